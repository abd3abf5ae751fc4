# Reference values for belonging_lib.models.regression (issue 5): HC and cluster-robust SEs.
# Run from the repository root:  Rscript tests/reference/robust.R
# Writes tests/reference/robust.json (R and package versions, calls, MD5 of the input file).
suppressPackageStartupMessages({library(sandwich); library(clubSandwich); library(lmtest); library(jsonlite)})
f <- "tests/reference/data/robust_clustered.csv"
if (!file.exists(f)) {
  set.seed(505)
  G <- 24; ng <- sample(4:30, G, replace = TRUE)
  school <- rep(sprintf("S%02d", 1:G), ng)
  climate <- rep(round(rnorm(G), 4), ng)
  x <- round(rnorm(sum(ng)) + rep(rnorm(G, 0, 0.5), ng), 4)
  fsm <- rbinom(sum(ng), 1, 0.3)
  y <- 2 + 0.5 * x - 0.4 * fsm + 0.3 * climate + rep(rnorm(G, 0, 0.6), ng) + rnorm(sum(ng)) * (1 + 0.3 * abs(x))
  high <- as.integer(y + rnorm(sum(ng)) > 2.5)
  d <- data.frame(school = school, climate = climate, x = x, fsm = fsm, y = round(y, 4), high = high)
  d$x[c(5, 77)] <- NA
  write.csv(d, f, row.names = FALSE)
}
d <- read.csv(f); d <- d[complete.cases(d), ]
m <- lm(y ~ x + fsm + climate, d)
grab <- function(V) list(se = unname(sqrt(diag(V))), vcov = unname(V))
out_lm <- list(terms = names(coef(m)), estimate = unname(coef(m)), classical = grab(vcov(m)))
for (t in c("HC0", "HC1", "HC2", "HC3")) out_lm[[t]] <- grab(vcovHC(m, type = t))
out_lm$CR1 <- grab(vcovCL(m, cluster = ~school, type = "HC1"))
ct <- coef_test(m, vcov = "CR2", cluster = d$school, test = "Satterthwaite")
out_lm$CR2 <- list(se = unname(ct$SE), df = unname(ct$df_Satt), p = unname(ct$p_Satt),
                   vcov = unname(as.matrix(vcovCR(m, cluster = d$school, type = "CR2"))))
g <- glm(high ~ x + fsm + climate, binomial, d)
out_glm <- list(terms = names(coef(g)), estimate = unname(coef(g)), classical = grab(vcov(g)),
                HC0 = grab(vcovHC(g, type = "HC0")),
                CR1 = grab(vcovCL(g, cluster = ~school, type = "HC1")))
out <- list(r_version = R.version.string,
            packages = list(sandwich = as.character(packageVersion("sandwich")),
                            clubSandwich = as.character(packageVersion("clubSandwich")),
                            jsonlite = as.character(packageVersion("jsonlite"))),
            md5 = list(robust_clustered.csv = unname(tools::md5sum(f))),
            calls = list(lm = "lm(y ~ x + fsm + climate, d[complete.cases(d), ])",
                         hc = "vcovHC(m, type = t)  # t in HC0..HC3",
                         cr1 = "vcovCL(m, cluster = ~school, type = 'HC1')",
                         cr2 = "coef_test(m, vcov = 'CR2', cluster = d$school, test = 'Satterthwaite')",
                         glm = "glm(high ~ x + fsm + climate, binomial, d); vcovHC(g, 'HC0'); vcovCL(g, cluster = ~school, type = 'HC1')"),
            lm = out_lm, glm = out_glm, n = nrow(d), n_excluded = 2)
write_json(out, "tests/reference/robust.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
