# Reference values for belonging_lib.structure (CFA and measurement invariance).
# Run from the repository root:  Rscript tests/reference/structure.R
# Writes tests/reference/structure.json (and the data fixtures it reads, under tests/reference/data/).
suppressPackageStartupMessages({library(psych); library(GPArotation); library(lavaan); library(semTools); library(jsonlite); library(tools)})

dir <- "tests/reference/data"
hs_file <- file.path(dir, "holzinger_swineford_1939.csv")
sim_file <- file.path(dir, "structure_two_groups.csv")

# 1. Holzinger & Swineford (1939), from lavaan, exported for Python
hs <- lavaan::HolzingerSwineford1939
write.csv(hs[, c("id", "sex", "school", "grade", paste0("x", 1:9))], hs_file, row.names = FALSE, na = "")

# 2. A simulated fixture: 3 factors x 4 items, two groups (A: 700, B: 500), known loadings,
#    a non-invariant intercept (y3 higher by 0.5 in group B), a residual covariance y1 ~~ y5,
#    latent mean differences, and 3% of item values missing completely at random.
set.seed(20261123)
make_group <- function(n, shift, means) {
  phi <- matrix(c(1, .4, .3, .4, 1, .5, .3, .5, 1), 3)
  eta <- MASS::mvrnorm(n, mu = means, Sigma = phi)
  lam <- matrix(0, 12, 3)
  lam[1:4, 1] <- c(.8, .7, .6, .75); lam[5:8, 2] <- c(.7, .8, .65, .6); lam[9:12, 3] <- c(.75, .6, .7, .8)
  e <- matrix(rnorm(n * 12, sd = .6), n, 12)
  e[, 5] <- e[, 5] + .25 * e[, 1]          # residual covariance y1 ~~ y5
  nu <- rep(3, 12); nu[3] <- nu[3] + shift
  y <- sweep(eta %*% t(lam) + e, 2, nu, "+")
  colnames(y) <- paste0("y", 1:12)
  as.data.frame(y)
}
a <- make_group(700, 0, c(0, 0, 0)); a$grp <- "A"
b <- make_group(500, 0.5, c(-.3, .2, 0)); b$grp <- "B"
sim <- rbind(a, b)
miss <- matrix(runif(nrow(sim) * 12) < .03, nrow(sim), 12)
for (j in 1:12) sim[miss[, j], j] <- NA
sim <- cbind(id = seq_len(nrow(sim)), grp = sim$grp, round(sim[, 1:12], 6))
write.csv(sim, sim_file, row.names = FALSE, na = "")
sim <- read.csv(sim_file)

hs_model <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
sim_model <- "f1 =~ y1 + y2 + y3 + y4\nf2 =~ y5 + y6 + y7 + y8\nf3 =~ y9 + y10 + y11 + y12\ny1 ~~ y5"

measures <- c("chisq", "df", "pvalue", "baseline.chisq", "baseline.df", "cfi", "tli", "rmsea",
              "rmsea.ci.lower", "rmsea.ci.upper", "srmr", "npar", "ntotal")
fm <- function(fit) as.list(fitMeasures(fit, measures))

single <- function(model, data, missing = "listwise") {
  fit <- cfa(model, data = data, missing = missing)
  pe <- parameterEstimates(fit)
  st <- standardizedSolution(fit)
  ld <- pe$op == "=~"
  r2 <- inspect(fit, "r2")
  list(call = sprintf("cfa(model, data)"), fit = fm(fit), nobs = lavInspect(fit, "nobs"),
       loadings = data.frame(factor = pe$lhs[ld], item = pe$rhs[ld], estimate = pe$est[ld], se = pe$se[ld],
                             std_estimate = st$est.std[st$op == "=~"], r2 = unname(r2[pe$rhs[ld]])),
       factor_cor = lavInspect(fit, "cor.lv"),
       omega = as.list(compRelSEM(fit)),
       parameters = data.frame(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, est = pe$est, se = pe$se,
                               std_all = st$est.std))
}

invar <- function(model, data, group, partial = "", missing = "listwise") {
  eqs <- list(configural = "", metric = "loadings", scalar = c("loadings", "intercepts"),
              strict = c("loadings", "intercepts", "residuals"))
  fits <- lapply(eqs, function(e) cfa(model, data = data, group = group, group.equal = e,
                                      group.partial = if (nzchar(partial[1])) partial else "",
                                      missing = missing))
  out <- lapply(names(fits), function(nm) {
    f <- fits[[nm]]
    pe <- parameterEstimates(f); st <- standardizedSolution(f)
    ld <- pe$op == "=~"
    list(fit = fm(f), group_labels = lavInspect(f, "group.label"),
         nobs = lavInspect(f, "nobs"),
         loadings = data.frame(group = pe$group[ld], factor = pe$lhs[ld], item = pe$rhs[ld],
                               estimate = pe$est[ld], se = pe$se[ld], std_estimate = st$est.std[st$op == "=~"]),
         latent_means = data.frame(group = pe$group[pe$op == "~1" & pe$lhs %in% lavNames(f, "lv")],
                                   factor = pe$lhs[pe$op == "~1" & pe$lhs %in% lavNames(f, "lv")],
                                   est = pe$est[pe$op == "~1" & pe$lhs %in% lavNames(f, "lv")],
                                   se = pe$se[pe$op == "~1" & pe$lhs %in% lavNames(f, "lv")]))
  })
  names(out) <- names(fits)
  lrt <- lavTestLRT(fits$configural, fits$metric, fits$scalar, fits$strict)
  out$lrt <- data.frame(model = names(fits), chisq_diff = lrt[["Chisq diff"]], df_diff = lrt[["Df diff"]],
                        p_diff = lrt[["Pr(>Chisq)"]])
  out$call <- sprintf("cfa(model, data, group = '%s', group.equal = ..., group.partial = c(%s))", group,
                      paste0("'", partial, "'", collapse = ", "))
  out
}

efa_ref <- function(data) {
  f <- psych::fa(data, nfactors = 3, fm = "minres", rotate = "oblimin")
  set.seed(2026)
  pa <- psych::fa.parallel(data, fm = "minres", n.iter = 20, plot = FALSE)
  list(call = "psych::fa(hs[, x1..x9], nfactors = 3, fm = 'minres', rotate = 'oblimin'); fa.parallel(n.iter = 20)",
       loadings = unclass(f$loadings), phi = f$Phi, communality = unname(f$communality),
       parallel_nfact = pa$nfact, parallel_ncomp = pa$ncomp)
}

# 3. The project's synthetic sample survey (data/sample/survey.csv): the five-part model of notebook 03.
#    Python's test checks this file's MD5 and fails, asking for this script to be rerun, if it changed.
survey_file <- "data/sample/survey.csv"
survey <- read.csv(survey_file)
five_model <- paste(
  "staff =~ tr_care_1 + tr_care_2 + tr_care_3 + tr_care_4",
  "peers =~ peer_1 + peer_2 + peer_3 + peer_4",
  "engagement =~ engage_1 + engage_2 + engage_3 + engage_4",
  "respect =~ respect_1 + respect_2 + respect_3 + respect_4",
  "voice =~ voice_1 + voice_2 + voice_3 + voice_4", sep = "\n")

ref <- list(
  generated_by = "tests/reference/structure.R",
  r_version = R.version.string,
  packages = list(lavaan = as.character(packageVersion("lavaan")),
                  semTools = as.character(packageVersion("semTools")),
                  MASS = as.character(packageVersion("MASS")),
                  psych = as.character(packageVersion("psych")),
                  GPArotation = as.character(packageVersion("GPArotation")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  options = "lavaan defaults for cfa(): estimator ML, likelihood normal, information expected, missing listwise, marker-variable identification; semTools::compRelSEM defaults",
  inputs = list(holzinger_swineford_1939.csv = unname(md5sum(hs_file)),
                structure_two_groups.csv = unname(md5sum(sim_file)),
                survey.csv = unname(md5sum(survey_file))),
  models = list(hs = hs_model, sim = sim_model, five = five_model),
  hs_single = single(hs_model, hs),
  hs_invariance = invar(hs_model, hs, "school"),
  sim_single = single(sim_model, sim),
  sim_invariance = invar(sim_model, sim, "grp"),
  sim_partial = invar(sim_model, sim, "grp", partial = "y3 ~ 1"),
  sim_partial_mixed = invar(sim_model, sim, "grp", partial = c("f1 =~ y2", "y3 ~ 1", "y7 ~~ y7")),
  hs_efa = efa_ref(hs[, paste0("x", 1:9)]),
  sim_single_fiml = single(sim_model, sim, missing = "ml"),
  sim_partial_fiml = invar(sim_model, sim, "grp", partial = "y3 ~ 1", missing = "ml"),
  survey_single = single(five_model, survey),
  survey_send = invar(five_model, survey, "send"),
  survey_send_partial = invar(five_model, survey, "send", partial = "engage_3 ~ 1")
)
writeLines(toJSON(ref, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"), "tests/reference/structure.json")
cat("wrote tests/reference/structure.json\n")
