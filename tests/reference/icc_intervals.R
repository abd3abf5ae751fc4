# Reference values for the cluster-bootstrap intervals of ICC(1), ICC(2) and the between-school
# variance explained (belonging_lib.reliability.icc, between_variance_explained).
# Run from the repository root:  Rscript tests/reference/icc_intervals.R
# Inputs (written once from Python, synthetic):
#   tests/reference/data/icc_intervals_fixture.csv  one row per pupil: school, x (a school measure), y
#   tests/reference/data/icc_intervals_indices.csv  one row per bootstrap replicate: the schools drawn
#     (1-based positions in the sorted school labels), so R refits the very same replicates.
# Each replicate stacks the drawn schools' pupils, a school drawn twice entering as two schools, and
# refits lme4::lmer(REML = TRUE). Percentiles use quantile(type = 7).
# Writes tests/reference/icc_intervals.json (R and package versions, calls, input MD5s, results).
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
out_dir <- "tests/reference"
data_dir <- file.path(out_dir, "data")
fx_path <- file.path(data_dir, "icc_intervals_fixture.csv")
ix_path <- file.path(data_dir, "icc_intervals_indices.csv")
d <- read.csv(fx_path, colClasses = c("character", "numeric", "numeric"))
idx <- as.matrix(read.csv(ix_path))
labels <- sort(unique(d$school))
rows_of <- split(seq_len(nrow(d)), factor(d$school, levels = labels))
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 1e-3, rhoend = 1e-12),
                    check.conv.singular = "ignore", calc.derivs = FALSE)

vc <- function(fit) {
  v <- as.data.frame(VarCorr(fit))
  c(tau = v$vcov[v$grp == "g"], sigma2 = v$vcov[v$grp == "Residual"])
}
icc_of <- function(dd) {
  f <- lmer(y ~ 1 + (1 | g), data = dd, REML = TRUE, control = ctrl)
  v <- vc(f)
  nbar <- nrow(dd) / length(unique(dd$g))
  c(icc1 = unname(v["tau"] / (v["tau"] + v["sigma2"])),
    icc2 = unname(v["tau"] / (v["tau"] + v["sigma2"] / nbar)), tau = unname(v["tau"]))
}
tau_model <- function(dd) {
  unname(vc(lmer(y ~ x + (1 | g), data = dd, REML = TRUE, control = ctrl))["tau"])
}

full <- transform(d, g = d$school)
est <- icc_of(full)
tau_x <- tau_model(full)
B <- nrow(idx)
draws <- matrix(NA_real_, B, 4, dimnames = list(NULL, c("icc1", "icc2", "tau_null", "tau_model")))
for (b in seq_len(B)) {
  parts <- lapply(seq_len(ncol(idx)), function(k) {
    r <- rows_of[[idx[b, k]]]
    data.frame(y = d$y[r], x = d$x[r], g = k)
  })
  dd <- do.call(rbind, parts)
  e <- icc_of(dd)
  draws[b, ] <- c(e["icc1"], e["icc2"], e["tau"], tau_model(dd))
}
explained <- 1 - draws[, "tau_model"] / draws[, "tau_null"]
q <- function(v) unname(quantile(v, c(0.025, 0.975), type = 7))

out <- list(
  generated = format(Sys.time(), "%Y-%m-%d", tz = "UTC"),
  R = R.version.string,
  packages = list(lme4 = as.character(packageVersion("lme4"))),
  inputs = list(fixture = basename(fx_path), fixture_md5 = unname(tools::md5sum(fx_path)),
                indices = basename(ix_path), indices_md5 = unname(tools::md5sum(ix_path))),
  calls = c("lmer(y ~ 1 + (1 | g), REML = TRUE)", "lmer(y ~ x + (1 | g), REML = TRUE)",
            "quantile(draws, c(0.025, 0.975), type = 7)"),
  n = nrow(d), n_groups = length(labels), n_boot = B,
  estimate = list(icc1 = unname(est["icc1"]), icc2 = unname(est["icc2"]), tau_null = unname(est["tau"]),
                  tau_model = tau_x, explained = 1 - tau_x / unname(est["tau"])),
  draws = list(icc1 = unname(draws[, "icc1"]), icc2 = unname(draws[, "icc2"]),
               tau_null = unname(draws[, "tau_null"]), tau_model = unname(draws[, "tau_model"])),
  ci95 = list(icc1 = q(draws[, "icc1"]), icc2 = q(draws[, "icc2"]), explained = q(explained),
              tau_null = q(draws[, "tau_null"]), tau_model = q(draws[, "tau_model"]))
)
write_json(out, file.path(out_dir, "icc_intervals.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("written", file.path(out_dir, "icc_intervals.json"), "\n")
