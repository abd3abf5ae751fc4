# Reference values for the school culture audit's rater agreement (belonging_lib.schools.audit.rater_icc).
# Run from the repository root:  Rscript tests/reference/audit_icc.R
# Reads the stacked rating forms tests/reference/data/audit_ratings_*.csv (long: rater, indicator,
# rating; written once from belonging_lib.schools.audit.simulate_audit, synthetic), reshapes them to
# indicators x raters, keeps indicators rated by every rater, and runs psych::ICC.
# Writes tests/reference/audit_icc.json (R and package versions, the exact call, input MD5s, results).
suppressPackageStartupMessages({ library(psych); library(jsonlite) })
out_dir <- "tests/reference"
data_dir <- file.path(out_dir, "data")

one <- function(name) {
  path <- file.path(data_dir, paste0(name, ".csv"))
  long <- read.csv(path, colClasses = c("character", "character", "numeric"))
  wide <- reshape(long, idvar = "indicator", timevar = "rater", direction = "wide")
  rownames(wide) <- wide$indicator
  x <- wide[, setdiff(names(wide), "indicator")]
  x <- x[, sort(names(x))]
  complete <- x[complete.cases(x), ]
  res <- psych::ICC(complete, lmer = FALSE, alpha = 0.05)
  r <- res$results
  list(input = basename(path), md5 = unname(tools::md5sum(path)),
       n_indicators = nrow(x), n_complete = nrow(complete), n_raters = ncol(x),
       call = "psych::ICC(complete, lmer = FALSE, alpha = 0.05)  # complete = indicators rated by every rater",
       type = as.character(r$type), ICC = r$ICC, F = r$F, df1 = r$df1, df2 = r$df2, p = r$p,
       lower = r$`lower bound`, upper = r$`upper bound`)
}

out <- list(
  generated = format(Sys.time(), "%Y-%m-%d", tz = "UTC"),
  R = R.version.string,
  packages = list(psych = as.character(packageVersion("psych")), jsonlite = as.character(packageVersion("jsonlite"))),
  cases = list(six_raters = one("audit_ratings_6"), three_raters_missing = one("audit_ratings_3_missing"))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(out_dir, "audit_icc.json"))
cat("wrote", file.path(out_dir, "audit_icc.json"), "\n")
