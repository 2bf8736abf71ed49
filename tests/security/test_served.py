"""The served process the attack tests use: `frontdesk serve` on its embedded defaults answers over real HTTP."""

from __future__ import annotations

from typing import Any


def test_the_served_demo_help_centre_answers_a_search(service: Any) -> None:
    with service.client() as client:
        response = client.get("/v1/knowledge/search", params={"q": "how long do refunds take"})
    assert response.status_code == 200, response.text
    assert response.json()["passages"], response.text
    service.assert_responsive()
