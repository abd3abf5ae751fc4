# Reference values for belonging_lib.proportions.proportion_ci.
# Run from the repository root or tests/reference/:  Rscript proportions.R  -> proportions.json
#
# Data: data/proportions_fixture.csv, simulated here (set.seed(17)): 40 schools of 5-40 pupils, a
# school effect on the logit scale (so pupils in a school are alike), a 0/1 outcome `flag` with a few
# missing values, and a group `g` (a, b, c) with group c in only some schools.
# Wilson: prop.test(x, n, correct = FALSE)$conf.int.
# Clustered: survey::svydesign(ids = ~school, data) with svyciprop(method = "logit"), overall and by
# group through svyby (domain estimation).
if (dir.exists("tests/reference")) setwd("tests/reference")
suppressPackageStartupMessages({ library(survey); library(jsonlite) })

fixture <- "data/proportions_fixture.csv"
if (!file.exists(fixture)) {
  set.seed(17)
  sizes <- sample(5:40, 40, replace = TRUE)
  school <- rep(sprintf("S%02d", 1:40), sizes)
  u <- rep(rnorm(40, 0, 0.8), sizes)
  g <- sample(c("a", "b"), length(school), replace = TRUE)
  g[school %in% sprintf("S%02d", 1:12) & runif(length(school)) < 0.4] <- "c"
  flag <- rbinom(length(school), 1, plogis(-1 + u + 0.5 * (g == "b")))
  flag[sample(length(flag), 15)] <- NA
  write.csv(data.frame(school = school, g = g, flag = flag), fixture, row.names = FALSE, na = "")
}
d <- read.csv(fixture, colClasses = c(school = "character", g = "character"))
ok <- d[!is.na(d$flag), ]

wilson <- function(x, n) as.numeric(prop.test(x, n, correct = FALSE)$conf.int)
overall_w <- wilson(sum(ok$flag), nrow(ok))
by_w <- lapply(split(ok$flag, ok$g), function(f) c(mean(f), wilson(sum(f), length(f))))

des <- svydesign(ids = ~school, weights = ~one, data = transform(ok, one = 1))
ov <- svyciprop(~I(flag == 1), des, method = "logit")
ov_ci <- as.numeric(attr(ov, "ci"))
byg <- svyby(~I(flag == 1), ~g, des, svyciprop, method = "logit", vartype = c("ci", "se"))

out <- list(
  n = nrow(ok), n_excluded = sum(is.na(d$flag)),
  wilson_overall = list(estimate = mean(ok$flag), ci_low = overall_w[1], ci_high = overall_w[2]),
  wilson_by = lapply(by_w, function(v) list(estimate = v[1], ci_low = v[2], ci_high = v[3])),
  cluster_overall = list(estimate = as.numeric(ov), ci_low = ov_ci[1], ci_high = ov_ci[2],
                         se = as.numeric(sqrt(attr(ov, "var")))),
  cluster_by = setNames(lapply(seq_len(nrow(byg)), function(i)
    list(estimate = byg[i, 2], ci_low = byg$ci_l[i], ci_high = byg$ci_u[i], se = as.numeric(SE(byg))[i])),
    as.character(byg$g)),
  versions = list(R = R.version.string, survey = as.character(packageVersion("survey")))
)
write_json(out, "proportions.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
