# Reference values for belonging_lib.reliability.test_retest (ICC for absolute agreement from two waves).
# Run from the repository root:  Rscript tests/reference/retest.R
# Reads the sample's transition panel (data/sample/transition.csv, synthetic), keeps the pupils with a
# belonging score at both waves of each pair, and runs psych::ICC and lme4 (crossed pupil and wave
# variance components).  Writes tests/reference/retest.json.
suppressPackageStartupMessages({library(psych); library(lme4); library(jsonlite); library(tools)})

panel_file <- "data/sample/transition.csv"
panel <- read.csv(panel_file, colClasses = c(pupil_id = "character"))

pair <- function(before, after, alpha = 0.05) {
  d <- panel[panel$wave %in% c(before, after) & !is.na(panel$belonging), c("pupil_id", "wave", "belonging")]
  wide <- reshape(d, idvar = "pupil_id", timevar = "wave", direction = "wide")
  x <- wide[, c(paste0("belonging.", before), paste0("belonging.", after))]
  both <- x[complete.cases(x), ]
  r <- psych::ICC(both, lmer = FALSE, alpha = alpha)$results
  long <- d[d$pupil_id %in% wide$pupil_id[complete.cases(x)], ]
  fit <- lmer(belonging ~ 1 + (1 | pupil_id) + (1 | wave), data = transform(long, wave = factor(wave)), REML = TRUE)
  vc <- as.data.frame(VarCorr(fit))
  v <- setNames(vc$vcov, vc$grp)
  list(call = sprintf("psych::ICC(both, lmer = FALSE, alpha = %g)  # both = pupils with belonging at waves %d and %d", alpha, before, after),
       n = nrow(both), n_only_one = nrow(x) - nrow(both),
       type = as.character(r$type), ICC = r$ICC, F = r$F, df1 = r$df1, df2 = r$df2, p = r$p,
       lower = r$`lower bound`, upper = r$`upper bound`,
       lmer_call = "lmer(belonging ~ 1 + (1 | pupil_id) + (1 | wave), REML = TRUE)",
       lmer_icc_agreement = unname(v["pupil_id"] / sum(v)))
}

out <- list(
  generated_by = "tests/reference/retest.R",
  r_version = R.version.string,
  packages = list(psych = as.character(packageVersion("psych")), lme4 = as.character(packageVersion("lme4")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  inputs = list(transition.csv = unname(md5sum(panel_file))),
  waves_2_3 = pair(2, 3),
  waves_1_2 = pair(1, 2),
  waves_1_3_90 = pair(1, 3, alpha = 0.10)
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/retest.json")
cat("wrote tests/reference/retest.json\n")
