# Reference values for belonging_lib.structure.bifactor (orthogonal bifactor CFA, omega hierarchical).
# Run from the repository root:  Rscript tests/reference/bifactor.R
# Writes tests/reference/bifactor.json.  Omega is computed here from lavaan's own estimates
# (lavInspect(fit, "est")), with the model-implied variance of the sum of the items as denominator.
suppressPackageStartupMessages({library(lavaan); library(jsonlite); library(tools)})

hs_file <- "tests/reference/data/holzinger_swineford_1939.csv"
survey_file <- "data/sample/survey.csv"
hs <- read.csv(hs_file)
survey <- read.csv(survey_file)
pssm <- sprintf("pssm_%02d", 1:18)
negative <- c("pssm_03", "pssm_06", "pssm_09", "pssm_12", "pssm_16")
for (v in negative) survey[[v]] <- 6 - survey[[v]]       # reverse-keyed within 1..5

omega_parts <- function(fit, items, specific) {
  est <- lavInspect(fit, "est")
  lam <- est$lambda[items, , drop = FALSE] %*% diag(sqrt(diag(est$psi)), ncol(est$lambda))
  colnames(lam) <- colnames(est$lambda)
  th <- diag(est$theta)[items]
  g <- lam[, "general"]
  s2 <- sapply(names(specific), function(f) sum(lam[, f])^2)
  total <- sum(g)^2 + sum(s2) + sum(th)
  sd <- sqrt(rowSums(lam^2) + th)
  std <- lam / sd
  hs_own <- sapply(names(specific), function(f) {
    idx <- specific[[f]]
    sum(lam[idx, f])^2 / (sum(lam[idx, "general"])^2 + sum(lam[idx, f])^2 + sum(th[idx]))
  })
  list(omega_h = sum(g)^2 / total, omega_total = 1 - sum(th) / total, share = as.list(s2 / total),
       omega_hs = as.list(hs_own),
       ecv = sum(std[, "general"]^2) / sum(std^2))
}

run <- function(data, items, specific) {
  model <- paste(c(paste("general =~", paste(items, collapse = " + ")),
                   sapply(names(specific), function(f) paste(f, "=~", paste(specific[[f]], collapse = " + ")))),
                 collapse = "\n")
  fit <- cfa(model, data = data, orthogonal = TRUE)
  pe <- parameterEstimates(fit)
  ld <- pe$op == "=~"
  c(list(model = model, call = "cfa(model, data, orthogonal = TRUE)", nobs = lavInspect(fit, "nobs"),
         fit = as.list(fitMeasures(fit, c("chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr"))),
         loadings = data.frame(factor = pe$lhs[ld], item = pe$rhs[ld], estimate = pe$est[ld], se = pe$se[ld])),
    omega_parts(fit, items, specific))
}

hs_items <- paste0("x", 1:9)
ref <- list(
  generated_by = "tests/reference/bifactor.R",
  r_version = R.version.string,
  packages = list(lavaan = as.character(packageVersion("lavaan")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  options = "lavaan defaults for cfa() with orthogonal = TRUE: ML, normal likelihood, expected information, listwise deletion, marker-variable identification",
  inputs = list(holzinger_swineford_1939.csv = unname(md5sum(hs_file)), survey.csv = unname(md5sum(survey_file))),
  hs_speed = run(hs, hs_items, list(speed = c("x7", "x8", "x9"))),
  hs_two = run(hs, hs_items, list(textual = c("x4", "x5", "x6"), speed = c("x7", "x8", "x9"))),
  pssm = run(survey, pssm, list(negative = negative))
)
writeLines(toJSON(ref, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"), "tests/reference/bifactor.json")
cat("wrote tests/reference/bifactor.json\n")
