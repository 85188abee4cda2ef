"""Planning (pure): the model's facts (model_facts.py), the fit check and capacity plan
(fit.py), layouts near one that does not fit (alternatives.py), layouts ranked for a host
(recommend.py), the hosting guide's claims checked (guide_check.py), and the plan in words
(explain.py)."""
