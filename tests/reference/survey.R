# Reference values for belonging_lib.survey (replicate weights + plausible values).
# Run from tests/reference/:  Rscript survey.R   -> survey.json
#
# Inputs
#   ../../data/sample/pisa.csv.gz        the PISA-style sample file (issue 7 asks for it); its MD5 is
#                                        recorded and the Python test fails if the file changed.
#   data/survey_pisa_fixture.csv         a committed subset of that file (2 countries x 300 pupils,
#                                        written by this script the first time it runs), so a
#                                        reference survives a regeneration of the sample data.
#
# Design: survey::svrepdesign(type = "Fay", rho = 0.5, combined.weights = TRUE, mse = TRUE)
# (mse = TRUE: replicate deviations from the full-sample estimate, as PISA does), one design per
# plausible value through mitools::imputationList, pooled by mitools::MIcombine (Rubin's rules).
# Runs from the repository root (make references) or from tests/reference.
if (dir.exists("tests/reference")) setwd("tests/reference")
suppressPackageStartupMessages({
  library(survey); library(mitools); library(jsonlite)
})

sample_file <- "../../data/sample/pisa.csv.gz"
fixture_file <- "data/survey_pisa_fixture.csv"
rep_cols <- paste0("W_FSTURWT", 1:80)
pv_cols <- paste0("PV", 1:10, "MATH")

if (!file.exists(fixture_file)) {
  full <- read.csv(sample_file)
  keep <- c("CNT", "ST004D01T", "ESCS", "IMMIG", "ST034Q01TA", "BELONG", "W_FSTUWT", rep_cols, pv_cols)
  fx <- do.call(rbind, lapply(c("AAA", "BBB"), function(cn) head(full[full$CNT == cn, keep], 300)))
  write.csv(fx, fixture_file, row.names = FALSE, na = "")
}

make_designs <- function(d) {
  dl <- lapply(1:10, function(m) { d$MATH <- d[[pv_cols[m]]]; d })
  svrepdesign(data = imputationList(dl), repweights = d[, rep_cols], weights = ~W_FSTUWT,
              type = "Fay", rho = 0.5, combined.weights = TRUE, mse = TRUE)
}
one_design <- function(d, type = "Fay", mse = TRUE) {
  args <- list(data = d, repweights = d[, rep_cols], weights = ~W_FSTUWT, type = type,
               combined.weights = TRUE, mse = mse)
  if (type == "Fay") args$rho <- 0.5
  if (type == "JK1") args$scale <- 79 / 80
  suppressWarnings(do.call(svrepdesign, args))
}

pooled <- function(results) {
  # results: list (one per PV) of list(coef = named vector, var = matrix)
  mi <- MIcombine(lapply(results, `[[`, "coef"), lapply(results, `[[`, "var"))
  data.frame(term = names(coef(mi)), estimate = unname(coef(mi)),
             se = unname(sqrt(diag(vcov(mi)))), df = unname(mi$df), stringsAsFactors = FALSE)
}
plain <- function(est, var) {
  data.frame(term = names(est), estimate = unname(est), se = unname(sqrt(diag(as.matrix(var)))),
             df = Inf, stringsAsFactors = FALSE)
}
cor_theta <- function(x, y) function(w, data) cov.wt(cbind(data[[x]], data[[y]]), w, cor = TRUE)$cor[1, 2]
r2_theta <- function(formula) function(w, data) {
  mf <- model.frame(formula, data)
  y <- model.response(mf)
  fit <- lm.wfit(model.matrix(formula, mf), y, w)
  1 - sum(w * fit$residuals^2) / sum(w * (y - weighted.mean(y, w))^2)
}

reference <- function(d) {
  des <- make_designs(d)
  des1 <- one_design(d)
  countries <- sort(unique(d$CNT))
  out <- list()

  # 1. Mean of a plausible-value variable by country (svyby + MIcombine)
  r <- with(des, fun = function(x) svyby(~MATH, ~CNT, x, svymean))
  mi <- MIcombine(r)
  out$mean_math_by_cnt <- data.frame(CNT = names(coef(mi)), estimate = unname(coef(mi)),
                                     se = unname(SE(mi)), df = unname(mi$df))
  # overall, with the t interval of summary.MIresult
  mi <- MIcombine(with(des, fun = function(x) svymean(~MATH, x)))
  crit <- qt(0.975, mi$df)
  out$mean_math <- data.frame(estimate = unname(coef(mi)), se = unname(SE(mi)), df = mi$df,
                              ci_low = unname(coef(mi) - crit * SE(mi)),
                              ci_high = unname(coef(mi) + crit * SE(mi)))

  # 2. Mean of an ordinary variable with missing values, by country (no PVs: replicate SE only)
  b <- svyby(~BELONG, ~CNT, subset(des1, !is.na(BELONG)), svymean)
  out$mean_belong_by_cnt <- data.frame(CNT = b$CNT, estimate = coef(b), se = SE(b), df = Inf,
                                       n = as.vector(table(d$CNT[!is.na(d$BELONG)])))

  # 3. Percentages of the categories of one item, by country
  pct <- svyby(~factor(ST034Q01TA), ~CNT, subset(des1, !is.na(ST034Q01TA)), svymean)
  est <- coef(pct); se <- SE(pct)
  nm <- names(est)
  out$percent_item1_by_cnt <- data.frame(CNT = sub(":.*", "", nm),
                                         category = as.numeric(sub(".*\\)", "", nm)),
                                         estimate = 100 * unname(est), se = 100 * as.vector(as.matrix(se)),
                                         row.names = NULL)

  # 4. Percentiles 10, 50, 90 of MATH by country: qrule "math" (the default rule), replicate
  #    quantiles for the SE (interval.type = "quantile"), pooled over PVs
  qs <- c(0.10, 0.50, 0.90)
  rows <- list()
  for (cn in countries) {
    res <- lapply(des$designs, function(x) {
      s <- subset(x, CNT == cn)
      # (return.replicates = TRUE fails in survey 4.1-1, so the SE is read from the interval,
      #  computed with df = Inf: se = (upper - lower) / (2 qnorm(.975)) = sqrt(svrVar(replicates)))
      q <- svyquantile(~MATH, s, qs, qrule = "math", interval.type = "quantile", df = Inf)
      est <- coef(q); names(est) <- qs
      list(coef = est, var = diag(SE(q)^2, length(qs)))
    })
    p <- pooled(res); p$CNT <- cn; p$percentile <- 100 * qs
    rows[[cn]] <- p
  }
  out$percentile_math_by_cnt <- do.call(rbind, rows)

  # 5. Correlation of MATH and BELONG by country (withReplicates on cov.wt)
  rows <- list()
  for (cn in countries) {
    res <- lapply(des$designs, function(x) {
      s <- subset(x, CNT == cn & !is.na(BELONG))
      w <- withReplicates(s, cor_theta("MATH", "BELONG"))
      list(coef = c(r = unname(as.vector(w))), var = matrix(attr(w, "var")))
    })
    p <- pooled(res); p$CNT <- cn; rows[[cn]] <- p
  }
  out$corr_math_belong_by_cnt <- do.call(rbind, rows)

  # 6. Difference in mean MATH, girls (1) minus boys (2), by country (svyby covmat + svycontrast)
  rows <- list()
  for (cn in countries) {
    res <- lapply(des$designs, function(x) {
      s <- subset(x, CNT == cn)
      b <- svyby(~MATH, ~ST004D01T, s, svymean, covmat = TRUE)
      k <- svycontrast(b, c(1, -1))
      list(coef = c(diff = unname(coef(k))), var = matrix(unname(vcov(k))))
    })
    p <- pooled(res); p$CNT <- cn; rows[[cn]] <- p
  }
  out$diff_math_gender_by_cnt <- do.call(rbind, rows)

  # 7. Regression MATH ~ ESCS + BELONG + factor(ST004D01T) by country (svyglm), with R^2
  f <- MATH ~ ESCS + BELONG + factor(ST004D01T)
  rows <- list()
  for (cn in countries) {
    res <- lapply(des$designs, function(x) {
      s <- subset(x, CNT == cn & !is.na(BELONG))
      fit <- svyglm(f, s)
      r2 <- withReplicates(s, r2_theta(f))
      est <- c(coef(fit), "R-squared" = unname(as.vector(r2)))
      v <- matrix(0, length(est), length(est))
      v[seq_along(coef(fit)), seq_along(coef(fit))] <- vcov(fit)
      v[length(est), length(est)] <- attr(r2, "var")
      list(coef = est, var = v)
    })
    p <- pooled(res); p$CNT <- cn; rows[[cn]] <- p
  }
  out$regress_math_by_cnt <- do.call(rbind, rows)

  # 8. A plausible value as a predictor, all countries: BELONG ~ MATH + ESCS
  res <- lapply(des$designs, function(x) {
    fit <- svyglm(BELONG ~ MATH + ESCS, subset(x, !is.na(BELONG)))
    list(coef = coef(fit), var = vcov(fit))
  })
  out$regress_belong_on_math <- pooled(res)

  # 9. Other replicate conventions on the same weights (scale factors of svrepdesign):
  #    mean of BELONG in the first country
  d1 <- d[d$CNT == countries[1] & !is.na(d$BELONG), ]
  conv <- list()
  for (spec in list(c("Fay", "TRUE"), c("Fay", "FALSE"), c("BRR", "TRUE"), c("JK1", "TRUE"),
                    c("JK2", "TRUE"), c("bootstrap", "TRUE"))) {
    x <- one_design(d1, type = spec[1], mse = as.logical(spec[2]))
    m <- svymean(~BELONG, x)
    conv[[length(conv) + 1]] <- data.frame(type = spec[1], mse = as.logical(spec[2]),
                                           scale = x$scale, estimate = unname(coef(m)),
                                           se = unname(SE(m)))
  }
  out$conventions_mean_belong <- do.call(rbind, conv)
  out
}

calls <- c(
  "svrepdesign(data = imputationList(<one data set per PV, MATH = PVmMATH>), repweights = W_FSTURWT1-80, weights = ~W_FSTUWT, type = 'Fay', rho = 0.5, combined.weights = TRUE, mse = TRUE)",
  "MIcombine(with(des, fun = function(x) svyby(~MATH, ~CNT, x, svymean)))",
  "svyby(~BELONG, ~CNT, subset(des1, !is.na(BELONG)), svymean)",
  "svyby(~factor(ST034Q01TA), ~CNT, subset(des1, !is.na(ST034Q01TA)), svymean) * 100",
  "svyquantile(~MATH, subset(x, CNT == cn), c(.1, .5, .9), qrule = 'math', interval.type = 'quantile', df = Inf); SE from the interval; MIcombine",
  "withReplicates(subset(x, CNT == cn & !is.na(BELONG)), function(w, d) cov.wt(cbind(d$MATH, d$BELONG), w, cor = TRUE)$cor[1, 2]); MIcombine",
  "svycontrast(svyby(~MATH, ~ST004D01T, subset(x, CNT == cn), svymean, covmat = TRUE), c(1, -1)); MIcombine",
  "svyglm(MATH ~ ESCS + BELONG + factor(ST004D01T), subset(x, CNT == cn & !is.na(BELONG))); R^2 by withReplicates(lm); MIcombine",
  "svyglm(BELONG ~ MATH + ESCS, subset(x, !is.na(BELONG))); MIcombine",
  "svymean(~BELONG, svrepdesign(type = Fay/BRR/JK1 (scale 79/80)/JK2/bootstrap, mse = TRUE or FALSE)) in the first country"
)

# MD5 of the uncompressed bytes: a .gz file's own MD5 changes with its time stamp alone
content_md5 <- function(f) {
  con <- gzfile(f, "rb"); bytes <- readBin(con, "raw", 5e8); close(con)
  tmp <- tempfile(); writeBin(bytes, tmp); unname(tools::md5sum(tmp))
}
inputs <- list(sample = sample_file, fixture = fixture_file)
results <- list()
for (nm in names(inputs)) {
  d <- read.csv(inputs[[nm]])
  results[[nm]] <- c(list(file = sub("^\\.\\./\\.\\./", "", inputs[[nm]]),
                          md5 = unname(tools::md5sum(inputs[[nm]])),
                          md5_content = content_md5(inputs[[nm]]), n = nrow(d)),
                     reference(d))
}

out <- list(
  r_version = R.version.string,
  packages = list(survey = as.character(packageVersion("survey")),
                  mitools = as.character(packageVersion("mitools")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  calls = calls,
  results = results
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, dataframe = "rows"), "survey.json")
