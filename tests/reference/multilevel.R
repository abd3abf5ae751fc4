# Reference values for belonging_lib.models.multilevel (issue 5).
# Run from the repository root:  Rscript tests/reference/multilevel.R
# Writes tests/reference/multilevel.json: R's and each package's version, the exact calls,
# an MD5 of every input file, and for each model the fixed effects (estimate, SE,
# Satterthwaite df from lmerTest), variance components and log-likelihood.
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(jsonlite)})
dir <- "tests/reference/data"
f_sleep <- file.path(dir, "sleepstudy.csv")
f_three <- file.path(dir, "multilevel_three_level.csv")
f_school <- file.path(dir, "multilevel_school_predictor.csv")
f_hsb <- file.path(dir, "hsb.csv")
f_three2 <- file.path(dir, "multilevel_three_level_predictors.csv")
f_terms <- file.path(dir, "multilevel_random_terms.csv")
# ---- fixtures: lme4::sleepstudy; simulated pupils in classes in schools ----
write.csv(lme4::sleepstudy, f_sleep, row.names = FALSE)
if (!file.exists(f_three)) {
  set.seed(20261123)
  J <- 30; rows <- list()
  for (s in 1:J) {
    u_s <- rnorm(1, 0, 0.5); k <- sample(2:4, 1)
    for (c in 1:k) {
      u_c <- rnorm(1, 0, 0.3); m <- sample(6:15, 1)
      ses <- rnorm(m)
      y <- 1 + 0.4 * ses + u_s + u_c + rnorm(m)
      rows[[length(rows) + 1]] <- data.frame(school = sprintf("S%02d", s), class = sprintf("C%d", c),
                                             ses = round(ses, 4), y = round(y, 4))
    }
  }
  write.csv(do.call(rbind, rows), f_three, row.names = FALSE)
}
if (!file.exists(f_school)) {
  set.seed(11)
  J <- 40; nj <- sample(5:40, J, replace = TRUE)
  school <- rep(sprintf("K%02d", 1:J), nj)
  urban <- rep(rbinom(J, 1, 0.5), nj)
  climate <- rep(round(rnorm(J), 4), nj)
  belong <- round(rnorm(sum(nj), 3.5, 0.6), 4)
  y <- 50 + 3 * belong + 2 * urban + 1.5 * climate + rep(rnorm(J, 0, 2), nj) + rnorm(sum(nj), 0, 8)
  d <- data.frame(school = school, urban = urban, climate = climate, belong = belong, y = round(y, 4))
  d$belong[c(3, 50)] <- NA   # two incomplete rows, excluded by both
  write.csv(d, f_school, row.names = FALSE)
}
# ---- High School and Beyond (nlme::MathAchieve with nlme::MathAchSchool), issue 14: SES centred
# within school; catholic = 1 for Catholic schools.  A random slope whose variance is small next to
# the intercept variance, where the df depend on an accurate Hessian.
if (!file.exists(f_hsb)) {
  ma <- as.data.frame(nlme::MathAchieve); ms <- as.data.frame(nlme::MathAchSchool)
  hsb <- data.frame(School = as.character(ma$School), SES = ma$SES, MEANSES = ma$MEANSES,
                    MathAch = ma$MathAch)
  hsb$catholic <- as.integer(ms$Sector[match(hsb$School, as.character(ms$School))] == "Catholic")
  hsb$SES_gc <- hsb$SES - ave(hsb$SES, hsb$School)
  write.csv(hsb, f_hsb, row.names = FALSE)
}
# ---- simulated (synthetic) pupils in classes in schools with predictors at all three levels,
# unbalanced, a small class variance next to the school variance (issue 14)
if (!file.exists(f_three2)) {
  set.seed(20261128)
  rows <- list()
  for (s in 1:50) {
    u_s <- rnorm(1, 0, 0.6); urban <- rbinom(1, 1, 0.4); k <- sample(2:5, 1)
    for (c in 1:k) {
      u_c <- rnorm(1, 0, 0.2); m <- sample(3:25, 1); class_size <- m + sample(0:6, 1)
      ses <- rnorm(m)
      y <- 2 + 0.3 * ses - 0.02 * class_size + 0.4 * urban + u_s + u_c + rnorm(m)
      rows[[length(rows) + 1]] <- data.frame(school = sprintf("T%02d", s), class = sprintf("K%d", c),
                                             urban = urban, class_size = class_size,
                                             ses = round(ses, 4), y = round(y, 4))
    }
  }
  write.csv(do.call(rbind, rows), f_three2, row.names = FALSE)
}
# ---- simulated (synthetic) pupils in schools for random slopes on transformed terms (issue 15): a
# squared term I(ses^2), a category factor(year) and an interaction ses:fsm, each with its own school
# variance; eight pupils miss ses, so the random part's variables must be complete too
if (!file.exists(f_terms)) {
  set.seed(20261215)
  J <- 45; rows <- list()
  for (s in 1:J) {
    m <- sample(18:40, 1)
    u <- rnorm(5, 0, c(0.5, 0.15, 0.3, 0.4, 0.35))
    ses <- rnorm(m); fsm <- rbinom(m, 1, 0.3); year <- sample(7:9, m, replace = TRUE)
    y <- 2 + u[1] + (0.3) * ses + (0.1 + u[2]) * ses^2 - 0.2 * fsm + (0.2 + u[3]) * (year == 8) +
      (0.4 + u[4]) * (year == 9) + (0.15 + u[5]) * ses * fsm + rnorm(m, 0, 0.8)
    rows[[s]] <- data.frame(school = sprintf("R%02d", s), ses = round(ses, 4), fsm = fsm, year = year,
                            y = round(y, 4))
  }
  d <- do.call(rbind, rows)
  d$ses[c(5, 77, 140, 333, 401, 512, 650, 777)] <- NA
  write.csv(d, f_terms, row.names = FALSE)
}
sleep <- read.csv(f_sleep); three <- read.csv(f_three); sch <- read.csv(f_school)
terms <- read.csv(f_terms)
three2 <- read.csv(f_three2)
hsb <- read.csv(f_hsb, colClasses = c(School = "character"))
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
  sleep_ri = "lmer(Reaction ~ Days + (1 | Subject), sleepstudy)",
  sleep_rs = "lmer(Reaction ~ Days + (Days | Subject), sleepstudy)",
  three = "lmer(y ~ ses + (1 | school/class), three)",
  school = "lmer(y ~ belong + urban + climate + (1 | school), school)",
  hsb = "lmer(MathAch ~ SES_gc * MEANSES + SES_gc * catholic + (SES_gc | School), hsb)",
  three2 = "lmer(y ~ ses + class_size + urban + (1 | school/class), three2)",
  terms_sq = "lmer(y ~ ses + I(ses^2) + (I(ses^2) | school), terms)",
  terms_year = "lmer(y ~ factor(year) + (factor(year) | school), terms)",
  terms_int = "lmer(y ~ ses * fsm + (ses:fsm | school), terms)"
)
models <- list()
for (reml in c(TRUE, FALSE)) {
  tag <- if (reml) "reml" else "ml"
  models[[paste0("sleep_ri_", tag)]] <- grab(lmer(Reaction ~ Days + (1 | Subject), sleep, REML = reml, control = ctrl))
  models[[paste0("sleep_rs_", tag)]] <- grab(lmer(Reaction ~ Days + (Days | Subject), sleep, REML = reml, control = ctrl))
  models[[paste0("three_", tag)]] <- grab(lmer(y ~ ses + (1 | school/class), three, REML = reml, control = ctrl))
  models[[paste0("school_", tag)]] <- grab(lmer(y ~ belong + urban + climate + (1 | school), sch, REML = reml, control = ctrl))
  models[[paste0("hsb_", tag)]] <- grab(lmer(MathAch ~ SES_gc * MEANSES + SES_gc * catholic + (SES_gc | School), hsb,
                                             REML = reml, control = ctrl))
  models[[paste0("three2_", tag)]] <- grab(lmer(y ~ ses + class_size + urban + (1 | school/class), three2,
                                                REML = reml, control = ctrl))
  models[[paste0("terms_sq_", tag)]] <- grab(lmer(y ~ ses + I(ses^2) + (I(ses^2) | school), terms,
                                                  REML = reml, control = ctrl))
  models[[paste0("terms_year_", tag)]] <- grab(lmer(y ~ factor(year) + (factor(year) | school), terms,
                                                    REML = reml, control = ctrl))
  models[[paste0("terms_int_", tag)]] <- grab(lmer(y ~ ses * fsm + (ses:fsm | school), terms,
                                                   REML = reml, control = ctrl))
}
# likelihood-ratio test with the ML refit (anova refits REML fits by ML)
m0 <- lmer(y ~ belong + (1 | school), sch, control = ctrl)
m1 <- lmer(y ~ belong + urban + climate + (1 | school), sch, control = ctrl)
a <- anova(m0, m1)
lrt <- list(chisq = a$Chisq[2], df = a$Df[2], p = a$`Pr(>Chisq)`[2], loglik = a$logLik)
files <- c(f_sleep, f_three, f_school, f_hsb, f_three2, f_terms)
out <- list(
  r_version = R.version.string,
  packages = list(lme4 = as.character(packageVersion("lme4")), lmerTest = as.character(packageVersion("lmerTest")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  md5 = as.list(setNames(unname(tools::md5sum(files)), basename(files))),
  calls = c(calls, list(control = "lmerControl(optimizer='bobyqa', optCtrl=list(rhoend=1e-12, maxfun=1e5)); REML = TRUE and FALSE; summary(m, ddf='Satterthwaite')",
                        lrt = "anova(lmer(y ~ belong + (1|school)), lmer(y ~ belong + urban + climate + (1|school)))")),
  models = models, lrt = lrt
)
write_json(out, "tests/reference/multilevel.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
