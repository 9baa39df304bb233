"""Select → record through real HTTP on loopback: the run closes the loop on the chosen arms."""

from __future__ import annotations


def _arms(server, role="coder"):
    r = server.client.get("/v1/arms", params={"role": role})
    assert r.status_code == 200, r.text
    return {a["key"]: a for a in r.json()["arms"]}


def test_select_then_record_updates_the_chosen_arms(server):
    c = server.client
    r = c.post("/v1/arms", json={"kind": "model", "role": "coder", "id": "coder-v1", "backend": "embedded",
                                 "cost_per_1k": 0.002, "name": "coder-v1.gguf"})
    assert r.status_code == 201, r.text
    r = c.post("/v1/select", json={"role": "coder", "task": "parse an ISO date"})
    assert r.status_code == 200, r.text
    sel = r.json()
    assert set(sel) == {"run_id", "prompt", "model", "policy", "explanation"}
    assert sel["policy"] == "thompson" and sel["prompt"]["text"]
    prompt, model = sel["prompt"]["id"], sel["model"]["id"]

    r = c.post("/v1/runs", json={"role": "coder", "output": "def parse(s): ...", "run_id": sel["run_id"],
                                 "signals": {"tests": {"passed": 3, "total": 4}}})
    assert r.status_code == 201, r.text
    run = c.get(f"/v1/runs/{sel['run_id']}").json()
    assert (run["prompt_variant"], run["model_variant"]) == (prompt, model)

    arms = _arms(server)
    chosen_p, chosen_m = arms[f"coder/prompt/{prompt}"], arms[f"coder/model/{model}"]
    assert (chosen_p["pulls"], chosen_p["rewarded"], chosen_p["mean"]) == (1, 1, 0.75)
    assert (chosen_m["rewarded"], chosen_m["mean"]) == (1, 0.75)
    assert chosen_p["share"] == 1.0 and chosen_p["low"] < 0.75 < chosen_p["high"]
    others = [a for k, a in arms.items() if k not in (chosen_p["key"], chosen_m["key"])]
    assert others and all(a["rewarded"] == 0 and a["mean"] is None for a in others)

    # human feedback arrives later and replaces the observation: still one pull, new mean
    r = c.post(f"/v1/runs/{sel['run_id']}/feedback", json={"kind": "accept"})
    assert r.status_code == 200, r.text
    after = _arms(server)[chosen_p["key"]]
    assert after["rewarded"] == 1 and abs(after["mean"] - (0.75 + 1.0) / 2) < 1e-9

    # the same run id cannot be recorded twice
    r = c.post("/v1/runs", json={"role": "coder", "output": "again", "run_id": sel["run_id"]})
    assert r.status_code == 422


def test_unknown_run_id_is_404_and_bad_requests_name_the_field(server):
    c = server.client
    r = c.post("/v1/runs", json={"role": "coder", "output": "x", "run_id": "0" * 24})
    assert r.status_code == 404 and "0" * 24 in r.json()["error"]["message"]
    r = c.post("/v1/select", json={"role": "bad role"})
    assert r.status_code == 422 and r.json()["error"]["param"] == "role"
    r = c.post("/v1/select", json={"role": "coder", "max_cost_per_1k": -1})
    assert r.status_code == 422 and r.json()["error"]["param"] == "max_cost_per_1k"
    r = c.post("/v1/select", json={"role": "coder", "temperature": 1})
    assert r.status_code == 422
    r = c.post("/v1/select", content=b"{not json")
    assert r.status_code == 400
    r = c.post("/v1/arms", json={"kind": "prompt", "role": "coder", "id": "x"})
    assert r.status_code == 422 and r.json()["error"]["param"] == "text"


def test_cost_limit_and_enable_disable_over_http(server):
    c = server.client
    assert c.post("/v1/arms", json={"kind": "model", "role": "coder", "id": "big", "backend": "ollama",
                                    "cost_per_1k": 0.05}).status_code == 201
    for _ in range(10):
        r = c.post("/v1/select", json={"role": "coder", "max_cost_per_1k": 0.01})
        assert r.json()["model"]["id"] == "base"
    r = c.patch("/v1/arms/coder/model/base", json={"enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    r = c.post("/v1/select", json={"role": "coder", "max_cost_per_1k": 0.01})
    assert r.status_code == 409 and r.json()["error"]["type"] == "selection_error"
    assert "cheapest: 'big' at 0.05" in r.json()["error"]["message"]
    assert c.post("/v1/select", json={"role": "coder"}).json()["model"]["id"] == "big"
    assert c.patch("/v1/arms/coder/nothing", json={"enabled": True}).status_code == 404
    r = c.post("/v1/arms", json={"kind": "prompt", "role": "reviewer", "id": "careful", "text": "Review carefully."})
    assert r.status_code == 201
    sel = c.post("/v1/select", json={"role": "reviewer"}).json()
    assert sel["prompt"] == {"id": "careful", "text": "Review carefully."} and sel["model"]["id"] == "base"
