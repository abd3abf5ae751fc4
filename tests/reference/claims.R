# Reference values for belonging_lib.models.{moderation,mediation,importance}.
# Run from the repository root:  Rscript tests/reference/claims.R
# Writes tests/reference/data/claims_fixture.csv (simulated here, seeded) and
# tests/reference/data/swiss.csv (R's built-in swiss data), then
# tests/reference/claims.json with R's results, versions, calls and input MD5s.
suppressPackageStartupMessages({library(jsonlite); library(sandwich); library(clubSandwich)})
# work from the repository root whether started there or in tests/reference (make references)
if (!dir.exists("tests/reference") && file.exists("claims.R")) setwd("../..")

dir.create("tests/reference/data", showWarnings = FALSE, recursive = TRUE)
fixture <- "tests/reference/data/claims_fixture.csv"
swiss_file <- "tests/reference/data/swiss.csv"
mtcars_file <- "tests/reference/data/mtcars.csv"

# ---- fixture: 600 pupils in 30 schools --------------------------------------
set.seed(20261123)
n <- 600; G <- 30
school <- sprintf("S%02d", rep(seq_len(G), each = n / G))
u <- rnorm(G, 0, 0.5)[rep(seq_len(G), each = n / G)]
fsm <- rbinom(n, 1, 0.3)
belong <- round(3 + 0.6 * rnorm(n) - 0.2 * fsm, 4)
covar <- round(rnorm(n), 4)
teacher <- round(rnorm(n), 4)
peer <- round(0.4 * teacher + rnorm(n), 4)
fair <- round(0.5 * teacher + 0.3 * peer + rnorm(n), 4)
bully <- round(-0.3 * peer + rnorm(n), 4)
mediator <- round(0.5 * teacher + 0.3 * peer + 0.2 * fair - 0.2 * bully + rnorm(n), 4)
attain <- round(50 - 6 * fsm + 2 * belong + 1.8 * fsm * belong + 0.5 * covar + u + rnorm(n, 0, 4), 4)
outcome <- round(0.4 * mediator + 0.15 * teacher + 0.2 * covar + u + rnorm(n), 4)
d <- data.frame(school, fsm, belong, covar, teacher, peer, fair, bully, mediator, attain, outcome)
write.csv(d, fixture, row.names = FALSE)
d <- read.csv(fixture)
write.csv(datasets::swiss, swiss_file, row.names = FALSE)
sw <- read.csv(swiss_file)
write.csv(datasets::mtcars[, c("mpg", "cyl", "disp", "hp", "gear")], mtcars_file, row.names = FALSE)
mt <- read.csv(mtcars_file)

coefs <- function(fit, V) {
  list(names = names(coef(fit)), estimate = unname(coef(fit)), vcov = unname(V),
       df_resid = fit$df.residual)
}
jn <- function(b1, b3, v11, v33, v13, tc) {
  a <- b3^2 - tc^2 * v33; b <- 2 * (b1 * b3 - tc^2 * v13); c <- b1^2 - tc^2 * v11
  disc <- b^2 - 4 * a * c
  if (disc <= 0) return(numeric(0))
  sort(c((-b - sqrt(disc)) / (2 * a), (-b + sqrt(disc)) / (2 * a)))
}
slope_by_recentring <- function(formula_text, at, V_fun, df_fun, data) {
  # the slope of the predictor at W = w0 is its coefficient once W is recentred at w0
  out <- lapply(at, function(w0) {
    dd <- data; dd$wc <- dd$W - w0
    f <- lm(as.formula(formula_text), data = dd)
    V <- V_fun(f); se <- sqrt(V["X", "X"]); df <- df_fun(f); est <- unname(coef(f)["X"])
    tc <- qt(0.975, df)
    list(at = w0, estimate = est, se = se, ci_low = est - tc * se, ci_high = est + tc * se,
         p = 2 * pt(-abs(est / se), df))
  })
  out
}

res <- list()

# ---- moderation 1: continuous predictor x continuous moderator, classical SEs -----
dm <- data.frame(Y = d$attain, X = d$belong, W = d$covar, C = d$teacher)
fit1 <- lm(Y ~ X * W + C, data = dm)
at1 <- unname(quantile(dm$W, c(0.16, 0.5, 0.84), type = 7))
V1 <- vcov(fit1); tc1 <- qt(0.975, fit1$df.residual)
res$moderation_classical <- list(
  call = "lm(attain ~ belong * covar + teacher); slopes by lm(attain ~ belong * I(covar - w0) + teacher)",
  fit = coefs(fit1, V1), at = at1,
  slopes = slope_by_recentring("Y ~ X * wc + C", at1, vcov, function(f) f$df.residual, dm),
  jn = jn(coef(fit1)["X"], coef(fit1)["X:W"], V1["X", "X"], V1["X:W", "X:W"], V1["X", "X:W"], tc1),
  t_crit = tc1)

# ---- moderation 2: binary predictor (fsm) x belonging, cluster-robust (HC1 = CR1) -----
db <- data.frame(Y = d$attain, X = d$fsm, W = d$belong, C = d$covar, school = d$school)
fit2 <- lm(Y ~ X * W + C, data = db)
Vcl <- function(f) vcovCL(f, cluster = ~school, type = "HC1")
V2 <- Vcl(fit2); tc2 <- qt(0.975, G - 1)
at2 <- unname(quantile(db$W, c(0.16, 0.5, 0.84), type = 7))
res$moderation_cluster <- list(
  call = "lm(attain ~ fsm * belong + covar); sandwich::vcovCL(cluster = ~school, type = 'HC1'); t on G - 1 df",
  fit = coefs(fit2, V2), at = at2,
  slopes = slope_by_recentring("Y ~ X * wc + C", at2, Vcl, function(f) G - 1, db),
  jn = jn(coef(fit2)["X"], coef(fit2)["X:W"], V2["X", "X"], V2["X:W", "X:W"], V2["X", "X:W"], tc2),
  t_crit = tc2)

# ---- moderation 2b: the same with Bell-McCaffrey CR2 (clubSandwich) -----
Vcr2 <- function(f) { V <- as.matrix(vcovCR(f, cluster = db$school, type = "CR2")); V }
V2b <- Vcr2(fit2)
res$moderation_cluster_cr2 <- list(
  call = "lm(attain ~ fsm * belong + covar); clubSandwich::vcovCR(cluster = school, type = 'CR2'); t on G - 1 df",
  fit = coefs(fit2, V2b), at = at2,
  slopes = slope_by_recentring("Y ~ X * wc + C", at2, Vcr2, function(f) G - 1, db),
  jn = jn(coef(fit2)["X"], coef(fit2)["X:W"], V2b["X", "X"], V2b["X:W", "X:W"], V2b["X", "X:W"], tc2),
  t_crit = tc2)

# ---- moderation 2c: CR2 with Satterthwaite df (clubSandwich::coef_test) -----
satt <- function(f, term) {
  ct <- coef_test(f, vcov = "CR2", cluster = db$school, test = "Satterthwaite")
  row <- ct[ct$Coef == term, ]
  tc <- qt(0.975, row$df_Satt)
  list(estimate = row$beta, se = row$SE, df = row$df_Satt, p = row$p_Satt,
       ci_low = row$beta - tc * row$SE, ci_high = row$beta + tc * row$SE)
}
res$moderation_cluster_cr2_satterthwaite <- list(
  call = "clubSandwich::coef_test(lm(attain ~ fsm * I(belong - w0) + covar), vcov = 'CR2', test = 'Satterthwaite')",
  coefficients = lapply(c("(Intercept)", "X", "W", "C", "X:W"), function(term) satt(fit2, term)),
  at = at2,
  slopes = lapply(at2, function(w0) { dd <- db; dd$wc <- dd$W - w0; satt(lm(Y ~ X * wc + C, data = dd), "X") }))

# ---- moderation 3: continuous predictor x binary moderator (classical) -----
dc <- data.frame(Y = d$attain, X = d$belong, W = d$fsm, C = d$covar)
fit3 <- lm(Y ~ X * W + C, data = dc); V3 <- vcov(fit3); tc3 <- qt(0.975, fit3$df.residual)
res$moderation_binary_moderator <- list(
  call = "lm(attain ~ belong * fsm + covar)", fit = coefs(fit3, V3), at = c(0, 1),
  slopes = slope_by_recentring("Y ~ X * wc + C", c(0, 1), vcov, function(f) f$df.residual, dc),
  jn = jn(coef(fit3)["X"], coef(fit3)["X:W"], V3["X", "X"], V3["X:W", "X:W"], V3["X", "X:W"], tc3),
  t_crit = tc3)

# ---- mediation: teacher -> mediator -> outcome, covariate covar -----
fa <- lm(mediator ~ teacher + covar, data = d)
fb <- lm(outcome ~ teacher + covar + mediator, data = d)
fc <- lm(outcome ~ teacher + covar, data = d)
path <- function(f, term, V) list(estimate = unname(coef(f)[term]), se = unname(sqrt(V[term, term])))
res$mediation <- list(
  call = c("lm(mediator ~ teacher + covar)", "lm(outcome ~ teacher + covar + mediator)",
           "lm(outcome ~ teacher + covar)"),
  a = path(fa, "teacher", vcov(fa)), b = path(fb, "mediator", vcov(fb)),
  c_prime = path(fb, "teacher", vcov(fb)), c = path(fc, "teacher", vcov(fc)),
  indirect = unname(coef(fa)["teacher"] * coef(fb)["mediator"]),
  cluster_se = list(
    a = path(fa, "teacher", vcovCL(fa, cluster = ~school, type = "HC1")),
    b = path(fb, "mediator", vcovCL(fb, cluster = ~school, type = "HC1")),
    c_prime = path(fb, "teacher", vcovCL(fb, cluster = ~school, type = "HC1")),
    c = path(fc, "teacher", vcovCL(fc, cluster = ~school, type = "HC1"))),
  cluster_df_cr2 = list(
    a = coef_test(fa, vcov = "CR2", cluster = d$school, test = "Satterthwaite")["teacher", "df_Satt"],
    b = coef_test(fb, vcov = "CR2", cluster = d$school, test = "Satterthwaite")["mediator", "df_Satt"],
    c_prime = coef_test(fb, vcov = "CR2", cluster = d$school, test = "Satterthwaite")["teacher", "df_Satt"],
    c = coef_test(fc, vcov = "CR2", cluster = d$school, test = "Satterthwaite")["teacher", "df_Satt"]),
  cluster_se_cr2 = list(
    a = path(fa, "teacher", as.matrix(vcovCR(fa, cluster = d$school, type = "CR2"))),
    b = path(fb, "mediator", as.matrix(vcovCR(fb, cluster = d$school, type = "CR2"))),
    c_prime = path(fb, "teacher", as.matrix(vcovCR(fb, cluster = d$school, type = "CR2"))),
    c = path(fc, "teacher", as.matrix(vcovCR(fc, cluster = d$school, type = "CR2")))))

# ---- dominance: all-subsets R^2 with lm() -----
dominance_lm <- function(data, outcome, preds) {
  p <- length(preds)
  masks <- 0:(2^p - 1)
  r2 <- sapply(masks, function(mask) {
    S <- preds[bitwAnd(mask, 2^(0:(p - 1))) > 0]
    if (length(S) == 0) return(0)
    summary(lm(reformulate(S, outcome), data = data))$r.squared
  })
  size <- sapply(masks, function(mask) sum(bitwAnd(mask, 2^(0:(p - 1))) > 0))
  general <- sapply(seq_len(p), function(i) {
    bit <- 2^(i - 1)
    without <- masks[bitwAnd(masks, bit) == 0]
    inc <- r2[without + bit + 1] - r2[without + 1]
    k <- size[without + 1]
    mean(tapply(inc, k, mean))
  })
  list(predictors = preds, subset_r2 = r2, general = general, r2 = r2[2^p])
}
res$dominance_fixture <- c(list(call = "summary(lm(outcome ~ S))$r.squared for every subset S"),
  dominance_lm(d, "mediator", c("teacher", "peer", "fair", "bully", "covar")))
res$dominance_swiss <- c(list(call = "summary(lm(Fertility ~ S, swiss))$r.squared for every subset S"),
  dominance_lm(sw, "Fertility", c("Agriculture", "Examination", "Education", "Catholic", "Infant.Mortality")))
res$dominance_mtcars <- c(list(call = "summary(lm(mpg ~ S, mtcars))$r.squared for every subset S of cyl, disp, hp, gear"),
  dominance_lm(mt, "mpg", c("cyl", "disp", "hp", "gear")))

pkgs <- c("jsonlite", "sandwich", "clubSandwich", "stats")
out <- list(
  r_version = R.version.string,
  packages = setNames(lapply(pkgs, function(p) as.character(packageVersion(p))), pkgs),
  inputs = list(claims_fixture.csv = unname(tools::md5sum(fixture)),
                swiss.csv = unname(tools::md5sum(swiss_file)),
                mtcars.csv = unname(tools::md5sum(mtcars_file))),
  results = res)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/claims.json")
cat("wrote tests/reference/claims.json\n")
