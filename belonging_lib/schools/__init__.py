"""Tools for schools: a classroom belonging questionnaire, a class report, a culture audit, support plans.

* :mod:`~belonging_lib.schools.questionnaire` - the Our Class Belonging questionnaire (primary and
  secondary versions, the project's own wording, not yet validated), printable forms, data-entry
  sheets, notes for staff and synthetic pilot data;
* :mod:`~belonging_lib.schools.class_report` - the class feedback report;
* :mod:`~belonging_lib.schools.audit` - the school culture audit (staff self-review, rater agreement);
* :mod:`~belonging_lib.schools.support_plan` - flags for a conversation and editable support plans.

Each has a ``belonging`` subcommand (:mod:`~belonging_lib.schools.cli`).
"""
