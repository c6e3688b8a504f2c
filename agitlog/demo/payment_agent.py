"""A payment-reminder agent (agitlog's demo). It asks a model which customers are overdue, queries
customers.csv with the filter the model wrote, and emails every customer the query returned.

The model is a scripted local one (OPENAI_BASE_URL), so the run is offline and needs no API key. The
bug to find: the model's filter is `days_overdue >= 0`, so customers who are not overdue at all get
a reminder too."""
from __future__ import annotations

import csv
import json
import os
import pathlib
import urllib.request

import agitlog

TASK = "Send a payment reminder to every customer whose invoice is more than 30 days overdue."


def ask_model(messages: list[dict[str, str]]) -> str:
    """One Chat Completions call, over plain HTTP, like any OpenAI-compatible client makes."""
    base = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/")
    body = json.dumps({"model": "demo-gpt", "messages": messages, "temperature": 0}).encode()
    request = urllib.request.Request(f"{base}/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["choices"][0]["message"]["content"]


@agitlog.tool
def query_customers(expression: str) -> list[dict[str, str]]:
    with open("customers.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row for row in rows if eval(expression, {}, {"days_overdue": int(row["days_overdue"])})]  # noqa: S307


@agitlog.tool
def send_reminders(customers: list[dict[str, str]]) -> int:
    outbox = pathlib.Path("outbox")
    outbox.mkdir(exist_ok=True)
    for row in customers:
        (outbox / f"{row['id']}.eml").write_text(
            f"To: {row['email']}\nSubject: Your invoice is overdue\n\n"
            f"Dear {row['name']}, your invoice is {row['days_overdue']} days overdue.\n")
    return len(customers)


def main() -> None:
    messages = [
        {"role": "system", "content": "You write Python filter expressions over the column days_overdue."},
        {"role": "user", "content": TASK + " Reply with the filter expression only."},
    ]
    agitlog.state({"task": TASK, "phase": "planning"})
    expression = ask_model(messages).strip()
    print(f"model wrote the filter: {expression}")
    customers = query_customers(expression)
    with agitlog.decision(f"email {len(customers)} customers",
                          reasoning=f"the filter `{expression}` returned {len(customers)} overdue customers",
                          alternatives=["ask a human to confirm a batch over 20 emails"]):
        sent = send_reminders(customers)  # the emails it writes belong to this decision
    agitlog.state({"task": TASK, "phase": "done", "sent": sent})
    print(f"sent {sent} reminders")


if __name__ == "__main__":
    main()
