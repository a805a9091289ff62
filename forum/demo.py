"""Demo data for a first run: boards, staff, members and a few real-looking threads."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from forum.accounts.models import Role, User
from forum.accounts.service import SignUp, register
from forum.boards.models import Board
from forum.boards.posting import accept_solution, create_thread, give_kudos, reply


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: Role
    hires: bool
    works: bool


DEMO_ACCOUNTS = [
    DemoAccount("admin", "admin-password", Role.ADMIN, True, False),
    DemoAccount("moderator", "moderator-password", Role.MODERATOR, False, True),
    DemoAccount("alice", "alice-password", Role.MEMBER, True, False),
    DemoAccount("bob", "bob-password", Role.MEMBER, False, True),
    DemoAccount("carol", "carol-password", Role.MEMBER, True, True),
]

DEMO_BOARDS = [
    (
        "getting-started",
        "Getting started",
        "New here? Ask anything about profiles, proposals and your first contract.",
        False,
    ),
    (
        "clients",
        "Hiring and managing work",
        "For clients: writing job posts, choosing freelancers, milestones and feedback.",
        False,
    ),
    (
        "freelancers",
        "Freelancing",
        "For freelancers: proposals, pricing, Connects, Top Rated and getting paid.",
        False,
    ),
    ("payments", "Payments and fees", "Invoices, service fees, refunds and tax forms.", False),
    ("moderators-lounge", "Moderators' lounge", "Only moderators can see this board.", True),
]


def load(session: Session, password_method: str) -> list[DemoAccount] | None:
    """Create the demo data unless any account exists; return the accounts made, or None."""
    if session.scalar(sa.select(sa.func.count()).select_from(User)):
        return None
    users = {}
    for account in DEMO_ACCOUNTS:
        user = register(
            session,
            SignUp(
                account.username,
                f"{account.username}@example.com",
                account.password,
                account.hires,
                account.works,
            ),
            password_method,
        )
        user.role = account.role.value
        users[account.username] = user
    boards = {}
    for position, (slug, name, description, hidden) in enumerate(DEMO_BOARDS):
        board = Board(
            slug=slug,
            name=name,
            description=description,
            position=position,
            moderators_only=hidden,
        )
        session.add(board)
        boards[slug] = board
    session.flush()

    question = create_thread(
        session,
        users["alice"],
        boards["clients"],
        "How do I write a job post that gets good proposals?",
        "I posted my first job last week and got 40 proposals, most of them copy-pasted.\n\n"
        "What should a job post include so that the right freelancers apply? Budget, timeline, "
        "a sample of the work?",
    )
    answer = reply(
        session,
        users["bob"],
        question,
        "From the freelancer side, three things make me apply:\n\n"
        '1. **A concrete deliverable** ("a landing page in our existing Next.js app")\n'
        "2. **A budget range**, even a rough one\n"
        "3. **One screening question** that a copy-paste proposal cannot answer\n\n"
        "Ask for a short sample of similar work, and mention when you will decide.",
    )
    reply(
        session,
        users["carol"],
        question,
        '+1 to the screening question. I also add *"start your proposal with the word '
        "banana\"* and skip every proposal that doesn't. Harsh, but it works.",
    )
    give_kudos(session, users["alice"], answer)
    give_kudos(session, users["carol"], answer)
    accept_solution(session, users["alice"], answer)

    fees = create_thread(
        session,
        users["bob"],
        boards["payments"],
        "How is the service fee calculated on long contracts?",
        "I've worked with one client for a year now. "
        "Does the fee really go down as we bill more?\n\n"
        "| Lifetime billings with a client | Fee |\n|---|---|\n| up to $500 | 20% |\n"
        "| $500.01 – $10,000 | 10% |\n| over $10,000 | 5% |\n\nIs this table still right?",
    )
    reply(
        session,
        users["moderator"],
        fees,
        "Yes, @bob, that table is right: the tiers are per client relationship, so your "
        "long-term clients get cheaper for you over time.",
    )

    welcome = create_thread(
        session,
        users["moderator"],
        boards["getting-started"],
        "Welcome to Townhall — read this first",
        "Welcome! A few ground rules:\n\n- Be kind and specific.\n- **Never** take work or "
        "payment off the platform; report anyone who asks.\n- Search before you ask: your "
        "question may already be solved.\n\nHave fun, and mark the reply that solved your "
        "question so others find it.",
    )
    welcome.pinned = True
    create_thread(
        session,
        users["carol"],
        boards["freelancers"],
        "Pricing a fixed-price project: share your formula",
        "I estimate hours, multiply by my rate and add 20% for revisions. Here's the snippet I "
        "use:\n\n```python\ndef quote(hours: float, rate_cents: int) -> int:\n"
        "    return round(hours * rate_cents * 1.2)\n```\n\nWhat do you add for risk?",
    )
    create_thread(
        session,
        users["moderator"],
        boards["moderators-lounge"],
        "Weekly report queue review",
        "Let's look at the circumvention reports together on Friday.",
    )
    session.flush()
    return DEMO_ACCOUNTS
