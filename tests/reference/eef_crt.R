# Reference values for belonging_lib.trials.crt_effect_sizes (issue 29): eefAnalytics' crtFREQ.
# eefAnalytics is not in Debian: install it from its public source repository
# (https://github.com/germaine86/eefAnalytics, version 1.1.2) into a library outside this
# repository and point R_LIBS at it.  Run from the repository root:
#   R_LIBS=/path/to/that/library Rscript tests/reference/eef_crt.R
# Writes tests/reference/eef_crt.json with R's and each package's version, the exact calls and an
# MD5 of every input file.
if (!requireNamespace("eefAnalytics", quietly = TRUE)) {
  # not in Debian or on every machine: `make references` goes on, and the committed JSON stays
  message("eefAnalytics is not installed: tests/reference/eef_crt.json is left as it is.")
  quit(status = 0)
}
suppressPackageStartupMessages({ library(eefAnalytics); library(lme4); library(jsonlite) })
f_trial <- "data/sample/trial.csv"
f_crt <- "tests/reference/data/trials_crt.csv"
out <- list(
  r_version = R.version.string,
  packages = list(eefAnalytics = as.character(packageVersion("eefAnalytics")),
                  lme4 = as.character(packageVersion("lme4")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  md5 = as.list(setNames(unname(tools::md5sum(c(f_trial, f_crt))), basename(c(f_trial, f_crt)))),
  calls = list(), cases = list()
)
ctl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))

one_case <- function(name, d, outcome, covars, cluster) {
  d <- d[complete.cases(d[, c(outcome, "treat", covars, cluster)]), ]
  fml <- as.formula(paste(outcome, "~", paste(c("treat", covars), collapse = " + ")))
  # 1. crtFREQ itself (its printed effect sizes are rounded to 2 decimals; it rounds its table of
  #    school effects too, so the school is given to it as a number)
  d$cl_code <- as.integer(factor(d[[cluster]]))
  res <- suppressMessages(crtFREQ(fml, random = "cl_code", intervention = "treat", data = d))
  es <- res$ES$treat1; ues <- res$Unconditional$ES$treat1
  # 2. crtFREQ's own effect-size functions, given the same REML fits converged tightly, unrounded
  d$cl <- d[[cluster]]
  fit <- lmer(update(fml, . ~ . + (1 | cl)), data = d, REML = TRUE, control = ctl)
  empty <- lmer(as.formula(paste(outcome, "~ 1 + (1 | cl)")), data = d, REML = TRUE, control = ctl)
  beta <- unname(fixef(fit)["treat"])
  vc <- function(m) { b <- as.numeric(VarCorr(m)$cl); w <- sigma(m)^2; c(b = b, w = w) }
  cur <- list()
  for (kind in c("conditional", "unconditional")) {
    v <- if (kind == "conditional") vc(fit) else vc(empty)
    icc <- unname(v["b"] / (v["b"] + v["w"]))
    gw <- eefAnalytics:::g.within(var.w = unname(v["w"]), beta = beta, icc = icc, group = d$treat, schoolID = d$cl)
    gt <- eefAnalytics:::g.total(var.tt = unname(v["b"] + v["w"]), beta = beta, icc = icc, group = d$treat, schoolID = d$cl)
    cur[[kind]] <- list(var_cluster = unname(v["b"]), var_pupil = unname(v["w"]), icc = icc,
                        within = list(g = gw$g, lb = gw$LB, ub = gw$UB),
                        total = list(g = gt$g, lb = gt$LB, ub = gt$UB))
  }
  out$cases[[name]] <<- list(
    formula = deparse(fml), n = nrow(d), beta = beta,
    crtFREQ_rounded = list(conditional = list(within = unname(unlist(es["Within", ])), total = unname(unlist(es["Total", ]))),
                           unconditional = list(within = unname(unlist(ues["Within", ])), total = unname(unlist(ues["Total", ])))),
    exact = cur)
}
trial <- read.csv(f_trial)
one_case("sample_attain", trial, "post_attain", c("pre_attain"), "school_id")
one_case("sample_belonging", trial, "post_belonging", c("pre_belonging", "send"), "school_id")
crt <- read.csv(f_crt)
one_case("fixture", crt, "post", c("pre"), "school_id")
out$calls <- c(
  "crtFREQ(outcome ~ treat + covariates, random = 'cl_code' (the cluster as a number), intervention = 'treat', data = complete rows)",
  "lmer(outcome ~ treat + covariates + (1 | cluster), REML = TRUE, bobyqa rhoend 1e-12)",
  "lmer(outcome ~ 1 + (1 | cluster), REML = TRUE, same control)",
  "eefAnalytics:::g.within(var.w, beta, icc, group = treat, schoolID = cluster)",
  "eefAnalytics:::g.total(var.tt, beta, icc, group = treat, schoolID = cluster)")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/eef_crt.json")
