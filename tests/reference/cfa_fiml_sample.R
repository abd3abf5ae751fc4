# Reference values for chapter 03's five-part CFA fitted by full-information ML on the sample data:
# lavaan::cfa(missing = "ml") (lavaan's FIML; "fiml" is the same option) against the listwise fit.
# Run from the repository root:  Rscript tests/reference/cfa_fiml_sample.R
# Data: data/sample/survey.csv (the synthetic sample). Writes tests/reference/cfa_fiml_sample.json.
suppressPackageStartupMessages({library(lavaan); library(jsonlite)})
f <- "data/sample/survey.csv"
d <- read.csv(f, na.strings = "")
parts <- c(staff = "tr_care", peers = "peer", engagement = "engage", respect = "respect", voice = "voice")
model <- paste(sprintf("%s =~ %s", names(parts),
                       sapply(parts, function(s) paste(sprintf("%s_%d", s, 1:4), collapse = " + "))), collapse = "\n")
items <- as.vector(sapply(parts, function(s) sprintf("%s_%d", s, 1:4)))
one <- function(missing) {
  m <- cfa(model, data = d[, items], missing = missing)
  fm <- fitMeasures(m, c("chisq", "df", "cfi", "tli", "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "srmr"))
  pe <- parameterEstimates(m, standardized = TRUE)
  ld <- pe[pe$op == "=~", ]
  list(n = lavInspect(m, "nobs"), fit = as.list(fm), loadings = list(lhs = ld$lhs, rhs = ld$rhs, est = ld$est,
       se = ld$se, std = ld$std.all))
}
out <- list(R = R.version.string, lavaan = as.character(packageVersion("lavaan")), md5 = unname(tools::md5sum(f)),
            model = model, n_rows = nrow(d), fiml = one("ml"), listwise = one("listwise"))
write_json(out, "tests/reference/cfa_fiml_sample.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("wrote tests/reference/cfa_fiml_sample.json\n")
