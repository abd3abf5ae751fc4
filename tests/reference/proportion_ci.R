# Wilson score intervals (prop.test without continuity correction) for belonging_lib.proportions.wilson_ci.
library(jsonlite)
cases <- list(c(12, 80), c(0, 25), c(25, 25), c(171, 2950), c(40, 210))
out <- lapply(cases, function(k) {
  r <- prop.test(k[1], k[2], conf.level = 0.95, correct = FALSE)
  list(count = k[1], n = k[2], estimate = unname(r$estimate),
       ci_low = r$conf.int[1], ci_high = r$conf.int[2])
})
r90 <- prop.test(40, 210, conf.level = 0.90, correct = FALSE)
out[[length(out) + 1]] <- list(count = 40, n = 210, level = 0.90, estimate = unname(r90$estimate),
                               ci_low = r90$conf.int[1], ci_high = r90$conf.int[2])
write_json(out, "tests/reference/proportion_ci.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
