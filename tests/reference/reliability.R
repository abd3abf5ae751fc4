# Reference values for belonging_lib.reliability and belonging_lib._factor.
# Run from the repository root:  Rscript tests/reference/reliability.R
# Writes tests/reference/data/*.csv (inputs, exported from R's built-in data or simulated here)
# and tests/reference/reliability.json (R and package versions, exact calls, input MD5s, results).
suppressPackageStartupMessages({
  library(psych); library(GPArotation); library(jsonlite); library(lme4); library(lavaan)
})
out_dir <- "tests/reference"
data_dir <- file.path(out_dir, "data")
dir.create(data_dir, showWarnings = FALSE, recursive = TRUE)

write_input <- function(df, name) {
  path <- file.path(data_dir, paste0(name, ".csv"))
  write.csv(df, path, row.names = FALSE, na = "")
  unname(tools::md5sum(path))
}

# ---- input data -------------------------------------------------------------------------------
data(bfi, package = "psych")
bfi25 <- bfi[, 1:25]                     # 2800 pupils x 25 items (1-6), with missing values
hs <- lavaan::HolzingerSwineford1939[, paste0("x", 1:9)]   # complete, continuous
set.seed(20261123)
# clustered fixture for ICC: 30 classes of unequal size, random intercept SD 0.5, residual SD 1
sizes <- sample(8:30, 30, replace = TRUE)
cls <- rep(sprintf("C%02d", 1:30), sizes)
u <- rnorm(30, 0, 0.5)
icc_df <- data.frame(class_id = cls, belonging = round(3 + rep(u, sizes) + rnorm(sum(sizes)), 4))
# a small set with a reverse-keyed item and heavy missingness (MCAR 15%) from bfi C1-C5
set.seed(7)
cmiss <- bfi[1:400, paste0("C", 1:5)]
for (j in 1:5) cmiss[runif(400) < 0.15, j] <- NA

md5 <- list(bfi25 = write_input(bfi25, "bfi25"), hs9 = write_input(hs, "hs9"),
            icc_classes = write_input(icc_df, "icc_classes"), bfi_c_missing = write_input(cmiss, "bfi_c_missing"))

# ---- alpha ------------------------------------------------------------------------------------
alpha_ref <- function(x, keys, call_text) {
  a <- if (length(keys)) psych::alpha(x, keys = keys, warnings = FALSE) else psych::alpha(x, warnings = FALSE)
  tot <- a$total
  n <- nrow(x); k <- ncol(x)
  ci <- c(1 - (1 - tot$raw_alpha) * qf(0.975, n - 1, (n - 1) * (k - 1)),
          1 - (1 - tot$raw_alpha) * qf(0.025, n - 1, (n - 1) * (k - 1)))
  list(call = call_text, items = colnames(x), reverse = keys, n = n,
       raw_alpha = tot$raw_alpha, std_alpha = tot$std.alpha, g6 = tot[["G6(smc)"]],
       average_r = tot$average_r, s_n = tot[["S/N"]], ase = tot$ase, mean = tot$mean, sd = tot$sd,
       median_r = tot$median_r, feldt = ci,
       item_n = unname(a$item.stats$n), raw_r = unname(a$item.stats$raw.r),
       std_r = unname(a$item.stats$std.r), r_cor = unname(a$item.stats$r.cor),
       r_drop = unname(a$item.stats$r.drop), item_mean = unname(a$item.stats$mean),
       item_sd = unname(a$item.stats$sd),
       drop_raw_alpha = unname(a$alpha.drop$raw_alpha), drop_std_alpha = unname(a$alpha.drop$std.alpha),
       drop_g6 = unname(a$alpha.drop[["G6(smc)"]]), drop_average_r = unname(a$alpha.drop$average_r),
       response_freq = if (is.null(a$response.freq)) NULL else unname(as.matrix(a$response.freq)))
}
alpha_cases <- list(
  bfi_A = alpha_ref(bfi25[, paste0("A", 1:5)], "A1", 'psych::alpha(bfi[, paste0("A", 1:5)], keys = "A1")'),
  bfi_C = alpha_ref(bfi25[, paste0("C", 1:5)], c("C4", "C5"), 'psych::alpha(bfi[, paste0("C", 1:5)], keys = c("C4", "C5"))'),
  bfi_N = alpha_ref(bfi25[, paste0("N", 1:5)], character(0), 'psych::alpha(bfi[, paste0("N", 1:5)])'),
  bfi_O = alpha_ref(bfi25[, paste0("O", 1:5)], c("O2", "O5"), 'psych::alpha(bfi[, paste0("O", 1:5)], keys = c("O2", "O5"))'),
  bfi_A_listwise = alpha_ref(na.omit(bfi25[, paste0("A", 1:5)]), "A1", 'psych::alpha(na.omit(bfi[, paste0("A", 1:5)]), keys = "A1")'),
  bfi_c_missing = alpha_ref(cmiss, c("C4", "C5"), 'psych::alpha(bfi_c_missing, keys = c("C4", "C5"))'),
  hs9 = alpha_ref(hs, character(0), 'psych::alpha(HolzingerSwineford1939[, paste0("x", 1:9)])')
)

# ---- factor extraction and rotation -----------------------------------------------------------
fa_ref <- function(r, nf, call_text) {
  f <- psych::fa(r, nfactors = nf, fm = "minres", rotate = "none", warnings = FALSE)
  list(call = call_text, nfactors = nf, loadings = unclass(f$loadings)[, 1:nf, drop = FALSE],
       uniquenesses = unname(f$uniquenesses), communalities = unname(f$communality))
}
r_bfi <- cor(bfi25, use = "pairwise")
r_hs <- cor(hs)
fa_cases <- list(
  bfi25_1 = fa_ref(r_bfi, 1, 'psych::fa(cor(bfi[,1:25], use="pairwise"), 1, fm="minres", rotate="none")'),
  bfi25_3 = fa_ref(r_bfi, 3, 'psych::fa(cor(bfi[,1:25], use="pairwise"), 3, fm="minres", rotate="none")'),
  bfi25_5 = fa_ref(r_bfi, 5, 'psych::fa(cor(bfi[,1:25], use="pairwise"), 5, fm="minres", rotate="none")'),
  hs9_3 = fa_ref(r_hs, 3, 'psych::fa(cor(HS[, x1:x9]), 3, fm="minres", rotate="none")')
)
# An independent, tightly converged check of minres: lavaan's ULS EFA (nlminb) on the same matrix.
# At the ULS optimum the diagonal residuals are zero, so ULS = minres; psych stops L-BFGS-B early
# (factr 1e7), so both R results are only accurate to about 1e-6.
uls_ref <- function(r, nf, call_text) {
  f <- lavaan::efa(sample.cov = r, sample.nobs = 1000, nfactors = nf, rotation = "none",
                   estimator = "ULS", sample.cov.rescale = FALSE, output = "lavaan", ov.names = colnames(r))
  list(call = call_text, nfactors = nf, uniquenesses = unname(diag(lavaan::lavInspect(f, "est")$theta)),
       max_abs_gradient = max(abs(lavaan::lavInspect(f, "optim.gradient"))))
}
uls_cases <- list(
  bfi25_3 = uls_ref(r_bfi, 3, 'lavaan::efa(sample.cov = cor(bfi[,1:25], use="pairwise"), nfactors = 3, rotation = "none", estimator = "ULS", sample.cov.rescale = FALSE)'),
  hs9_3 = uls_ref(r_hs, 3, 'lavaan::efa(sample.cov = cor(HS[, x1:x9]), nfactors = 3, rotation = "none", estimator = "ULS", sample.cov.rescale = FALSE)')
)
fa_obl <- psych::fa(r_bfi, nfactors = 5, fm = "minres", rotate = "oblimin", warnings = FALSE)
fa_oblimin_ref <- list(call = 'psych::fa(cor(bfi[,1:25], use="pairwise"), 5, fm="minres", rotate="oblimin")',
                       loadings = unname(unclass(fa_obl$loadings)), phi = unname(fa_obl$Phi))
rot_ref <- function(A, call_text, eps = 1e-5) {
  o <- GPArotation::oblimin(A, eps = eps, maxit = 100000)
  list(call = call_text, unrotated = unname(A), loadings = unname(unclass(o$loadings)), phi = unname(o$Phi),
       iterations = nrow(o$Table) - 1)
}
rot_cases <- list(
  bfi25_5 = rot_ref(fa_cases$bfi25_5$loadings, "GPArotation::oblimin(A)  # A = unrotated minres bfi25_5"),
  hs9_3 = rot_ref(fa_cases$hs9_3$loadings, "GPArotation::oblimin(A)  # A = unrotated minres hs9_3"),
  bfi25_3 = rot_ref(fa_cases$bfi25_3$loadings, "GPArotation::oblimin(A)  # A = unrotated minres bfi25_3")
)

# ---- omega ------------------------------------------------------------------------------------
omega_ref <- function(x, nf, call_text) {
  o <- suppressWarnings(psych::omega(x, nfactors = nf, plot = FALSE))
  list(call = call_text, nfactors = nf, omega_h = o$omega_h, omega_total = o$omega.tot,
       alpha = o$alpha, sl = unname(unclass(o$schmid$sl)), g_loadings = unname(o$schmid$sl[, 1]))
}
omega_cases <- list(
  bfi25_5 = omega_ref(bfi25, 5, 'psych::omega(bfi[, 1:25], nfactors = 5)'),
  bfi25_3 = omega_ref(bfi25, 3, 'psych::omega(bfi[, 1:25])  # default nfactors = 3'),
  hs9_3 = omega_ref(hs, 3, 'psych::omega(HolzingerSwineford1939[, paste0("x", 1:9)])'),
  bfi_A_1 = omega_ref(bfi25[, paste0("A", 1:5)], 1, 'psych::omega(bfi[, paste0("A", 1:5)], nfactors = 1)'),
  bfi_C_1 = omega_ref(cmiss, 1, 'psych::omega(bfi_c_missing, nfactors = 1)'),
  bfi_C_2 = omega_ref(bfi25[, c(paste0("C", 1:5), paste0("E", 1:5))], 2, 'psych::omega(bfi[, c(C1:C5, E1:E5)], nfactors = 2)')
)

# Exact Schmid-Leiman chain for three factors: with 3 first-order factors the one-factor model of
# Phi is just identified, g_f = sqrt(phi_ab phi_ac / phi_bc), so this needs no iterative fit
# (psych fits it by minres, which stops at about 1e-6). Input: psych's unrotated minres loadings.
sl_exact <- function(A, r, call_text) {
  o <- GPArotation::oblimin(A)
  P <- unclass(o$loadings); ph <- o$Phi
  gf <- c(1, sign(ph[1,2]), sign(ph[1,3])) *
    sqrt(abs(c(ph[1,2] * ph[1,3] / ph[2,3], ph[1,2] * ph[2,3] / ph[1,3], ph[1,3] * ph[2,3] / ph[1,2])))
  if (sum(gf) < 0) gf <- -gf
  g <- as.vector(P %*% gf)
  key <- ifelse(g < 0, -1, 1)
  rf <- diag(key) %*% r %*% diag(key)
  h2 <- diag(P %*% ph %*% t(P))
  list(call = call_text, g = g, omega_h = sum(abs(g))^2 / sum(rf), omega_total = (sum(rf) - sum(1 - h2)) / sum(rf))
}
sl_exact_cases <- list(
  bfi25_3 = sl_exact(fa_cases$bfi25_3$loadings, r_bfi, "closed-form SL of GPArotation::oblimin(psych minres bfi25_3)"),
  hs9_3 = sl_exact(fa_cases$hs9_3$loadings, r_hs, "closed-form SL of GPArotation::oblimin(psych minres hs9_3)")
)

# ---- ICC of a pupil measure within classes -------------------------------------------------------
a <- summary(aov(belonging ~ factor(class_id), data = icc_df))[[1]]
msb <- a[1, "Mean Sq"]; msw <- a[2, "Mean Sq"]
nj <- table(icc_df$class_id); J <- length(nj); N <- sum(nj); nbar <- N / J
m <- lme4::lmer(belonging ~ 1 + (1 | class_id), data = icc_df, REML = TRUE,
                control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12)))
vc <- as.data.frame(VarCorr(m))
tau <- vc$vcov[1]; sigma2 <- vc$vcov[2]
icc_ref <- list(
  call = 'summary(aov(belonging ~ factor(class_id))); lmer(belonging ~ 1 + (1 | class_id), REML = TRUE, bobyqa rhoend 1e-12)',
  msb = msb, msw = msw, n_groups = J, n = N, mean_size = nbar,
  anova_icc1 = (msb - msw) / (msb + (nbar - 1) * msw), anova_icc2 = (msb - msw) / msb,
  tau00 = tau, sigma2 = sigma2, vc_icc1 = tau / (tau + sigma2), vc_icc2 = tau / (tau + sigma2 / nbar),
  reml_loglik = as.numeric(logLik(m)))

# ---- polychoric correlations (ordinal alpha) ----------------------------------------------------
pc <- psych::polychoric(na.omit(bfi25[1:500, paste0("A", 1:5)]))
poly_ref <- list(call = 'psych::polychoric(na.omit(bfi[1:500, paste0("A", 1:5)]))',
                 rho = unname(pc$rho), tau = unname(pc$tau),
                 ordinal_alpha = psych::alpha(pc$rho, keys = "A1", warnings = FALSE)$total$raw_alpha)

# ---- scale scores: mean of answered items with reverse keys (psych::scoreItems) ------------------
keys <- list(agree = c("-A1", "A2", "A3", "A4", "A5"), consc = c("C1", "C2", "C3", "-C4", "-C5"))
sc <- psych::scoreItems(keys, cmiss_all <- bfi25[1:300, c(paste0("A", 1:5), paste0("C", 1:5))],
                        impute = "none", totals = FALSE, min = 1, max = 6)
score_ref <- list(call = 'psych::scoreItems(list(agree = c("-A1","A2","A3","A4","A5"), consc = c("C1","C2","C3","-C4","-C5")), bfi[1:300, c(A1:A5, C1:C5)], impute = "none", totals = FALSE, min = 1, max = 6)',
                  rows = 300, agree = unname(sc$scores[, "agree"]), consc = unname(sc$scores[, "consc"]))

pkgs <- c("psych", "GPArotation", "lme4", "lavaan", "jsonlite")
res <- list(
  generated_by = "tests/reference/reliability.R",
  r_version = R.version.string,
  packages = setNames(lapply(pkgs, function(p) as.character(packageVersion(p))), pkgs),
  input_md5 = md5,
  alpha = alpha_cases, fa = fa_cases, uls = uls_cases, fa_oblimin = fa_oblimin_ref, oblimin = rot_cases, omega = omega_cases, sl_exact = sl_exact_cases, scores = score_ref, icc = icc_ref,
  polychoric = poly_ref)
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE, matrix = "rowmajor"),
           file.path(out_dir, "reliability.json"))
cat("wrote", file.path(out_dir, "reliability.json"), "\n")
