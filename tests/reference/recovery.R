# Reference values for belonging_lib.transitions.attrition_weights, recovery and the three-level
# growth_model (pupils nested in secondary schools).
# Run from the repository root:  Rscript tests/reference/recovery.R
# Reads the sample's transition panel (data/sample/transition.csv, synthetic).  Writes tests/reference/recovery.json.
suppressPackageStartupMessages({library(lme4); library(jsonlite); library(tools)})

panel_file <- "data/sample/transition.csv"
panel <- read.csv(panel_file, colClasses = c(pupil_id = "character"))
obs <- panel[!is.na(panel$belonging), ]
waves_seen <- tapply(obs$wave, obs$pupil_id, function(w) length(unique(w)))
first <- panel[panel$wave == 1, ]
first$stayed <- as.integer(waves_seen[first$pupil_id] == 3 & !is.na(waves_seen[first$pupil_id]))
dropout <- glm(stayed ~ belonging + fsm + send, family = binomial, data = first)
first$weight <- ifelse(first$stayed == 1, 1 / fitted(dropout), NA)

wide <- reshape(obs[, c("pupil_id", "wave", "belonging")], idvar = "pupil_id", timevar = "wave", direction = "wide")
wide <- wide[complete.cases(wide), ]
w <- first$weight[match(wide$pupil_id, first$pupil_id)]
rec <- function(wt) {
  m <- sapply(c("belonging.1", "belonging.2", "belonging.3"), function(v) weighted.mean(wide[[v]], wt))
  list(means = unname(m), recovery = unname((m[3] - m[2]) / (m[1] - m[2])))
}

growth <- lmer(belonging ~ moved * send + end_of_y7 + (1 | secondary_id / pupil_id),
               data = transform(panel, moved = as.integer(wave > 1), end_of_y7 = as.integer(wave == 3)), REML = TRUE)
fe <- summary(growth)$coefficients
vc <- as.data.frame(VarCorr(growth))

out <- list(
  generated_by = "tests/reference/recovery.R",
  r_version = R.version.string,
  packages = list(lme4 = as.character(packageVersion("lme4")), jsonlite = as.character(packageVersion("jsonlite"))),
  inputs = list(transition.csv = unname(md5sum(panel_file))),
  dropout_call = "glm(stayed ~ belonging + fsm + send, family = binomial, data = first)  # first = wave-1 rows; stayed = belonging at all 3 waves",
  dropout_coef = as.list(coef(dropout)),
  weights = list(pupil_id = first$pupil_id[first$stayed == 1], weight = first$weight[first$stayed == 1]),
  n_balanced = nrow(wide),
  balanced = rec(rep(1, nrow(wide))),
  weighted = rec(w),
  growth_call = "lmer(belonging ~ moved * send + end_of_y7 + (1 | secondary_id / pupil_id), REML = TRUE)",
  growth_fixed = list(term = rownames(fe), estimate = unname(fe[, "Estimate"]), se = unname(fe[, "Std. Error"])),
  growth_variance = list(grp = vc$grp, vcov = vc$vcov)
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/reference/recovery.json")
cat("wrote tests/reference/recovery.json\n")
