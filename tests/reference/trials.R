# Reference values for belonging_lib.trials (issue 8).
# Run from the repository root:  Rscript tests/reference/trials.R
# Writes tests/reference/trials.json with R's and each package's version, the exact
# calls and an MD5 of every input file.
suppressPackageStartupMessages({
  library(effectsize); library(lme4); library(lmerTest); library(jsonlite)
})
dir <- "tests/reference/data"
f_ind <- file.path(dir, "trials_individual.csv")
f_crt <- file.path(dir, "trials_crt.csv")
ind <- read.csv(f_ind)
crt <- read.csv(f_crt)
out <- list(
  r_version = R.version.string,
  packages = list(effectsize = as.character(packageVersion("effectsize")),
                  lme4 = as.character(packageVersion("lme4")),
                  lmerTest = as.character(packageVersion("lmerTest")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  md5 = as.list(setNames(unname(tools::md5sum(c(f_ind, f_crt))), basename(c(f_ind, f_crt)))),
  calls = list()
)

# ---- Hedges' g and Cohen's d (noncentral-t CI, effectsize's default) ----
ok <- !is.na(ind$post)
x <- ind$post[ok & ind$arm == "programme"]
y <- ind$post[ok & ind$arm == "control"]
smd <- list()
for (ci in c(0.95, 0.90)) {
  g <- hedges_g(x, y, ci = ci)
  d <- cohens_d(x, y, ci = ci)
  key <- sprintf("ci%02d", round(100 * ci))
  smd[[key]] <- list(g = g$Hedges_g, g_low = g$CI_low, g_high = g$CI_high,
                     d = d$Cohens_d, d_low = d$CI_low, d_high = d$CI_high)
}
# a second data set: the pre-test (small difference), checks the CI near zero
xp <- ind$pre[ind$arm == "programme"]; yp <- ind$pre[ind$arm == "control"]
gp <- hedges_g(xp, yp, ci = 0.95)
smd$pre_ci95 <- list(g = gp$Hedges_g, g_low = gp$CI_low, g_high = gp$CI_high)
# tiny arms with a huge difference: the noncentral t is evaluated far in its tails (df = 2)
xt <- c(8, 9); yt <- c(1, 2)
gt <- hedges_g(xt, yt, ci = 0.95)
smd$tiny_ci95 <- list(x = xt, y = yt, g = gt$Hedges_g, g_low = gt$CI_low, g_high = gt$CI_high)
out$smd <- smd
out$calls$smd <- c("hedges_g(x = post[programme], y = post[control], ci = ci)  # ci in 0.95, 0.90",
                   "cohens_d(x, y, ci = ci)", "hedges_g(pre[programme], pre[control], ci = 0.95)",
                   "hedges_g(c(8, 9), c(1, 2), ci = 0.95)")

# ---- ANCOVA (individually randomised) ----
ind$treat <- as.integer(ind$arm == "programme")
m <- lm(post ~ treat + pre, data = ind)
cf <- summary(m)$coefficients
out$ancova <- list(b = cf["treat", 1], se = cf["treat", 2], p = cf["treat", 4],
                   ci = unname(confint(m)["treat", ]), df = m$df.residual, n = nobs(m))
out$calls$ancova <- "lm(post ~ treat + pre, data = ind)"

# ---- Cluster-randomised trial: lme4 / lmerTest, REML, tight optimiser ----
ctl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
cc <- crt[complete.cases(crt[, c("post", "treat", "pre", "fsm")]), ]
num <- lmerTest::lmer(post ~ treat + pre + fsm + (1 | school_id), data = cc, REML = TRUE, control = ctl)
den <- lmerTest::lmer(post ~ treat + (1 | school_id), data = cc, REML = TRUE, control = ctl)
emp <- lmerTest::lmer(post ~ 1 + (1 | school_id), data = cc, REML = TRUE, control = ctl)
vc <- function(fit) { v <- as.data.frame(VarCorr(fit)); list(school = v$vcov[1], pupil = v$vcov[2]) }
cn <- summary(num)$coefficients
b <- cn["treat", "Estimate"]; se <- cn["treat", "Std. Error"]; df <- cn["treat", "df"]
vd <- vc(den); ve <- vc(emp)
sd_eef <- sqrt(vd$school + vd$pupil); sd_io <- sqrt(ve$school + ve$pupil)
ci_b <- b + c(-1, 1) * qt(0.975, df) * se
out$crt <- list(
  n = nrow(cc), n_clusters = length(unique(cc$school_id)),
  numerator = list(fixed = as.list(cn[, "Estimate"]), se = as.list(cn[, "Std. Error"]),
                   df_satterthwaite = as.list(cn[, "df"]), var = vc(num),
                   loglik_reml = as.numeric(logLik(num))),
  denominator = list(fixed = as.list(summary(den)$coefficients[, "Estimate"]), var = vd,
                     loglik_reml = as.numeric(logLik(den))),
  empty = list(var = ve),
  icc_denominator = vd$school / (vd$school + vd$pupil),
  b = b, se = se, df = df, ci_b = ci_b,
  es_eef = b / sd_eef, ci_eef = ci_b / sd_eef,
  es_intercept_only = b / sd_io, ci_intercept_only = ci_b / sd_io
)
out$calls$crt <- c(
  "cc <- complete cases of post, treat, pre, fsm",
  "lmerTest::lmer(post ~ treat + pre + fsm + (1 | school_id), REML = TRUE, bobyqa rhoend 1e-12)  # numerator",
  "lmerTest::lmer(post ~ treat + (1 | school_id), REML = TRUE)  # EEF denominator",
  "lmerTest::lmer(post ~ 1 + (1 | school_id), REML = TRUE)  # eefAnalytics-style denominator",
  "CI = b +/- qt(.975, Satterthwaite df) * se, divided by the same SD")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/trials.json")
cat("wrote tests/reference/trials.json\n")
