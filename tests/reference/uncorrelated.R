# Reference values for uncorrelated random effects in belonging_lib.models.multilevel (issue 28):
# lme4's (1 | g) + (0 + x | g) and (x || g), whose intercept-slope covariance is fixed at 0.
# Run from the repository root:  Rscript tests/reference/uncorrelated.R
# Writes tests/reference/uncorrelated.json: R's and each package's version, the exact calls, an MD5 of
# every input file, and for each model the fixed effects (estimate, SE, Satterthwaite df from
# lmerTest), the variance components, the log-likelihood and theta.  The input files are written by
# tests/reference/multilevel.R.
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(jsonlite)})
dir <- "tests/reference/data"
f_sleep <- file.path(dir, "sleepstudy.csv")
f_hsb <- file.path(dir, "hsb.csv")
f_terms <- file.path(dir, "multilevel_random_terms.csv")
sleep <- read.csv(f_sleep)
hsb <- read.csv(f_hsb, colClasses = c(School = "character"))
terms <- read.csv(f_terms)
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5),
                    check.conv.singular = "ignore")
grab <- function(m) {
  co <- summary(m, ddf = "Satterthwaite")$coefficients
  vc <- as.data.frame(VarCorr(m))
  list(terms = rownames(co), estimate = unname(co[, "Estimate"]), se = unname(co[, "Std. Error"]),
       df = unname(co[, "df"]), p = unname(co[, "Pr(>|t|)"]),
       varcomp = list(grp = vc$grp, var1 = ifelse(is.na(vc$var1), "", vc$var1),
                      var2 = ifelse(is.na(vc$var2), "", vc$var2), vcov = vc$vcov),
       loglik = as.numeric(logLik(m)), aic = AIC(m), bic = BIC(m), nobs = nobs(m),
       theta = unname(getME(m, "theta")))
}
calls <- list(
  sleep_diag = "lmer(Reaction ~ Days + (1 | Subject) + (0 + Days | Subject), sleepstudy)",
  sleep_dbar = "lmer(Reaction ~ Days + (Days || Subject), sleepstudy)",
  hsb_dbar = "lmer(MathAch ~ SES_gc * MEANSES + SES_gc * catholic + (SES_gc || School), hsb)",
  terms_blocks = "lmer(y ~ ses * fsm + I(ses^2) + (1 + I(ses^2) | school) + (0 + ses:fsm | school), terms)"
)
models <- list()
for (reml in c(TRUE, FALSE)) {
  tag <- if (reml) "reml" else "ml"
  models[[paste0("sleep_diag_", tag)]] <- grab(lmer(Reaction ~ Days + (1 | Subject) + (0 + Days | Subject), sleep,
                                                    REML = reml, control = ctrl))
  models[[paste0("sleep_dbar_", tag)]] <- grab(lmer(Reaction ~ Days + (Days || Subject), sleep, REML = reml,
                                                    control = ctrl))
  models[[paste0("hsb_dbar_", tag)]] <- grab(lmer(MathAch ~ SES_gc * MEANSES + SES_gc * catholic + (SES_gc || School),
                                                  hsb, REML = reml, control = ctrl))
  models[[paste0("terms_blocks_", tag)]] <- grab(lmer(y ~ ses * fsm + I(ses^2) + (1 + I(ses^2) | school) + (0 + ses:fsm | school),
                                                      terms, REML = reml, control = ctrl))
}
files <- c(f_sleep, f_hsb, f_terms)
out <- list(
  r_version = R.version.string,
  packages = list(lme4 = as.character(packageVersion("lme4")), lmerTest = as.character(packageVersion("lmerTest")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  md5 = as.list(setNames(unname(tools::md5sum(files)), basename(files))),
  calls = c(calls, list(control = "lmerControl(optimizer='bobyqa', optCtrl=list(rhoend=1e-12, maxfun=1e5)); REML = TRUE and FALSE; summary(m, ddf='Satterthwaite')")),
  models = models
)
write_json(out, "tests/reference/uncorrelated.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
