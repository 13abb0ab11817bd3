"""The AI request path's cost: no cache write per successful provider call."""

from django.core.cache import cache

from ai.providers.circuit import CircuitTicket, circuit_record_success, circuit_status


def test_successful_calls_write_the_provider_figures_once_per_interval(
    settings, monkeypatch
):
    settings.AI_CIRCUIT_STATS_FLUSH_SECONDS = 60
    writes: list[str] = []
    real_set = type(cache._connections[cache._alias]).set

    def counting_set(self, key, *args, **kwargs):
        writes.append(key)
        return real_set(self, key, *args, **kwargs)

    monkeypatch.setattr(type(cache._connections[cache._alias]), "set", counting_set)
    ticket = CircuitTicket("demo", failures=0, half_open=False)
    for latency in (10, 20, 30, 40):
        circuit_record_success(ticket, latency_ms=latency)

    assert writes == ["ai:stats:demo"]  # the first; the others wait for the interval
    status = circuit_status("demo")  # a status read writes what is pending first
    assert status["recent_calls"] == 4
    assert status["recent_latency_ms_p50"] == 30
    assert status["circuit"] == "closed"
