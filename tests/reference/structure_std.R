# Reference values for the standardised CFA solution with delta-method standard errors
# (belonging_lib.structure.CFAResult.standardized), from lavaan::standardizedSolution(type = "std.all").
# Run from the repository root:  Rscript tests/reference/structure_std.R
# Reads fixtures already committed under tests/reference/data/ (it writes none);
# writes tests/reference/structure_std.json.
suppressPackageStartupMessages({library(lavaan); library(jsonlite); library(tools)})

dir <- "tests/reference/data"
hs_file <- file.path(dir, "hs9.csv")                      # Holzinger & Swineford (1939), x1..x9
sim_file <- file.path(dir, "structure_two_groups.csv")    # made by tests/reference/structure.R
hs <- read.csv(hs_file)
sim <- read.csv(sim_file)

hs_model <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
sim_model <- "f1 =~ y1 + y2 + y3 + y4\nf2 =~ y5 + y6 + y7 + y8\nf3 =~ y9 + y10 + y11 + y12\ny1 ~~ y5"

std_table <- function(fit) {
  st <- standardizedSolution(fit, type = "std.all", se = TRUE, level = 0.95)
  keep <- st$op %in% c("=~", "~~")
  out <- data.frame(lhs = st$lhs[keep], op = st$op[keep], rhs = st$rhs[keep],
                    est_std = st$est.std[keep], se = st$se[keep],
                    ci_lower = st$ci.lower[keep], ci_upper = st$ci.upper[keep])
  if (!is.null(st$group)) out$group <- lavInspect(fit, "group.label")[st$group[keep]]
  out
}

ref <- list(
  generated_by = "tests/reference/structure_std.R",
  r_version = R.version.string,
  packages = list(lavaan = as.character(packageVersion("lavaan")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  options = paste("lavaan defaults for cfa(): estimator ML, information expected, marker-variable identification;",
                  "standardizedSolution(type = 'std.all', se = TRUE, level = 0.95): delta-method SEs, Wald limits"),
  inputs = list(hs9.csv = unname(md5sum(hs_file)), structure_two_groups.csv = unname(md5sum(sim_file))),
  models = list(hs = hs_model, sim = sim_model),
  hs_single = std_table(cfa(hs_model, data = hs)),
  sim_single = std_table(cfa(sim_model, data = sim)),
  sim_single_fiml = std_table(cfa(sim_model, data = sim, missing = "ml")),
  sim_metric = std_table(cfa(sim_model, data = sim, group = "grp", group.equal = "loadings"))
)
writeLines(toJSON(ref, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"),
           "tests/reference/structure_std.json")
cat("wrote tests/reference/structure_std.json\n")
