"""The cost model of one home and one hour: what the env charges, the LP minimises and the
evaluation reports. One definition, so "no controller beats the LP" is a checkable claim.

Signs follow the telemetry: battery power at the terminals is positive when charging;
grid power (`net_kw = load - pv + battery`) is positive when importing. Every step is one
hour, so kW and kWh coincide.

Per hour:  energy = price * import - export_price * export
           emissions = carbon * import                (exports earn no credit, as in CityLearn)
           objective = energy + carbon_price * emissions + degradation * |battery|
                       + peak_price * (increase of the episode's highest import)
The peak charge is added as the running maximum grows, so over an episode it sums to
`peak_price * max(import)`, which the LP writes with one epigraph variable.
"""

from __future__ import annotations

from dataclasses import dataclass

from vpp.ml.rl.settings import RLSettings


@dataclass(frozen=True)
class CostModel:
    carbon_price_per_kg: float = 0.1
    export_price_share: float = 0.0
    degradation_per_kwh: float = 0.01
    peak_price_per_kw: float = 0.0

    def __post_init__(self) -> None:
        if min(self.carbon_price_per_kg, self.degradation_per_kwh, self.peak_price_per_kw) < 0:
            raise ValueError("cost model prices must not be negative")
        # Export worth more than import would make the LP unbounded (buy to sell back).
        if not 0.0 <= self.export_price_share <= 1.0:
            raise ValueError("export_price_share must lie in [0, 1]")

    @classmethod
    def from_settings(cls, rl: RLSettings) -> CostModel:
        return cls(
            carbon_price_per_kg=rl.carbon_price_per_kg,
            export_price_share=rl.export_price_share,
            degradation_per_kwh=rl.degradation_per_kwh,
            peak_price_per_kw=rl.peak_price_per_kw,
        )


@dataclass(frozen=True)
class HourCost:
    import_kw: float
    export_kw: float
    energy_cost: float  # $
    emissions_kg: float
    degradation_cost: float  # $
    peak_cost: float  # $, this hour's share of the episode's peak charge
    objective: float  # $, everything the controller is judged by

    @property
    def net_kw(self) -> float:
        return self.import_kw - self.export_kw


def hour_cost(
    model: CostModel,
    *,
    net_kw: float,
    battery_kw: float,
    price: float,
    carbon: float,
    peak_so_far_kw: float,
) -> HourCost:
    """The cost of one hour with grid power `net_kw` and battery power `battery_kw`."""
    imported = max(net_kw, 0.0)
    exported = max(-net_kw, 0.0)
    energy = price * imported - model.export_price_share * price * exported
    emissions = carbon * imported
    degradation = model.degradation_per_kwh * abs(battery_kw)
    peak = model.peak_price_per_kw * max(imported - peak_so_far_kw, 0.0)
    objective = energy + model.carbon_price_per_kg * emissions + degradation + peak
    return HourCost(imported, exported, energy, emissions, degradation, peak, objective)
