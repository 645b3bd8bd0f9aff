"""Alerting: YAML rules, pure detectors, the engine that evaluates them and the outbox that delivers."""

from .detectors import frequency_fires, spike_direction, spike_fires
from .engine import AlertEngine
from .notify import DeliveryReport, Outbox
from .rules import Rule, RuleFilter, load_rule, load_rules

__all__ = ["AlertEngine", "DeliveryReport", "Outbox", "Rule", "RuleFilter", "frequency_fires", "load_rule",
           "load_rules", "spike_direction", "spike_fires"]
