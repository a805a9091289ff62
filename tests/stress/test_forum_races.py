"""The forum against the real server: members giving kudos and replying at the same moment,
and two moderators removing and restoring one post while members keep replying.

Afterwards every counter equals the rows it counts (kudos per post and per author, posts and
replies per thread, posts and threads per board and per member, last activity), post numbers
run 1..n without gaps or repeats, and every moderator act is in the log, in an order that
explains the post's final state.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from forum.accounts.models import Role, User
from forum.boards import posting
from forum.boards.models import Board, Post, Thread
from forum.database import utcnow
from forum.extensions import db
from forum.moderation.models import ModerationAction
from tests.conftest import TEST_PASSWORD, make_board, make_user
from tests.stress.conftest import ROUNDS
from tests.stress.harness import Http, in_parallel

pytestmark = pytest.mark.stress

MEMBERS = 10
_keys = itertools.count()


def _seasoned(username: str, role: Role = Role.MEMBER) -> User:
    """A member whose account is older than a day (new accounts may post only 3 a minute)."""
    user = make_user(username, role=role)
    user.created_at = utcnow() - timedelta(days=3)
    return user


def _thread(board: Board, author: User, title: str) -> Thread:
    return posting.create_thread(db.session, author, board, title, f"{title}: the first post.")


def _signed_in(base_url: str, names: list[str]) -> list[Http]:
    browsers = in_parallel(len(names), lambda i: Http(base_url).sign_in(names[i], TEST_PASSWORD))
    for browser in browsers:
        if isinstance(browser, Exception):
            raise browser
    return browsers


def _reply(browser: Http, token: str, thread_id: int, text: str) -> int:
    return browser.post_form(
        f"/t/{thread_id}/reply",
        {"csrf_token": token, "body": text, "quote_id": "", "submission_key": f"k{next(_keys)}"},
    ).status


def _kudos(browser: Http, token: str, post_id: int) -> int:
    return browser.post_form(f"/posts/{post_id}/kudos", {"csrf_token": token}).status


COUNTER_CHECKS = {
    "post kudos_count": """
        SELECT p.id, p.kudos_count, (SELECT count(*) FROM kudos k WHERE k.post_id = p.id)
        FROM posts p""",
    "user kudos_received": """
        SELECT u.id, u.kudos_received,
               (SELECT count(*) FROM kudos k JOIN posts p ON p.id = k.post_id
                WHERE p.author_id = u.id)
        FROM users u""",
    "thread post_number_seq": """
        SELECT t.id, t.post_number_seq, (SELECT count(*) FROM posts p WHERE p.thread_id = t.id)
        FROM threads t""",
    "thread numbers 1..n": """
        SELECT t.id, (SELECT count(DISTINCT p.number) FROM posts p WHERE p.thread_id = t.id),
               (SELECT coalesce(max(p.number), 0) FROM posts p WHERE p.thread_id = t.id)
        FROM threads t""",
    "thread reply_count": """
        SELECT t.id, t.reply_count,
               (SELECT count(*) FROM posts p
                WHERE p.thread_id = t.id AND p.number > 1 AND p.removed_at IS NULL)
        FROM threads t""",
    "thread last_post_at": """
        SELECT t.id, t.last_post_at,
               coalesce((SELECT p.created_at FROM posts p
                         WHERE p.thread_id = t.id AND p.removed_at IS NULL
                         ORDER BY p.number DESC LIMIT 1), t.created_at)
        FROM threads t""",
    "board last activity": """
        SELECT b.id, b.last_thread_id,
               (SELECT t.id FROM threads t WHERE t.board_id = b.id AND t.removed_at IS NULL
                ORDER BY t.last_post_at DESC, t.id DESC LIMIT 1)
        FROM boards b""",
    "board last_post_at": """
        SELECT b.id, b.last_post_at,
               (SELECT max(t.last_post_at) FROM threads t
                WHERE t.board_id = b.id AND t.removed_at IS NULL)
        FROM boards b""",
    "board thread_count": """
        SELECT b.id, b.thread_count,
               (SELECT count(*) FROM threads t WHERE t.board_id = b.id AND t.removed_at IS NULL)
        FROM boards b""",
    "board post_count": """
        SELECT b.id, b.post_count,
               (SELECT count(*) FROM posts p JOIN threads t ON t.id = p.thread_id
                WHERE t.board_id = b.id AND t.removed_at IS NULL AND p.removed_at IS NULL)
        FROM boards b""",
    "user post_count": """
        SELECT u.id, u.post_count,
               (SELECT count(*) FROM posts p JOIN threads t ON t.id = p.thread_id
                WHERE p.author_id = u.id AND t.removed_at IS NULL AND p.removed_at IS NULL)
        FROM users u""",
}


def counter_problems() -> list[str]:
    """Return every counter that differs from the rows it counts, as "check: id kept != real"."""
    problems = []
    for name, query in COUNTER_CHECKS.items():
        for row_id, kept, real in db.session.execute(sa.text(query)):
            if kept != real:
                problems.append(f"{name}: {row_id} {kept} != {real}")
    return problems


def test_concurrent_kudos_and_replies_keep_every_counter_true(seeding, server, tally) -> None:
    board = make_board()
    author = _seasoned("kr-author")
    members = [_seasoned(f"kr-member-{n}").username for n in range(MEMBERS * ROUNDS)]
    threads = [_thread(board, author, f"Kudos and replies, round {n}") for n in range(ROUNDS)]
    earlier = [posting.reply(db.session, author, t, "An earlier reply.") for t in threads]
    db.session.commit()
    thread_ids = [t.id for t in threads]
    first_ids = [db.session.scalar(sa.select(Post.id).where(Post.thread_id == t, Post.number == 1))
                 for t in thread_ids]  # fmt: skip
    earlier_ids = [p.id for p in earlier]
    requests = 0
    for round_number in range(ROUNDS):
        # Fresh members each round keep every member well under the posting rate limit.
        crowd = members[round_number * MEMBERS : (round_number + 1) * MEMBERS]
        browsers = _signed_in(server.base_url, crowd)
        tokens = [b.csrf_token(f"/t/{thread_ids[round_number]}") for b in browsers]
        requests += 3 * MEMBERS

        def act(index: int, round_number: int = round_number) -> list[int]:
            browser, token = browsers[index // 5], tokens[index // 5]
            thread_id = thread_ids[round_number]
            match index % 5:
                case 0:
                    return [_reply(browser, token, thread_id, f"Reply {index} in {round_number}.")]
                case 1 | 2:  # the same kudos twice at once: counted once
                    return [_kudos(browser, token, first_ids[round_number])]
                case 3:  # and read the thread meanwhile (a view counts, and marks it read)
                    return [_kudos(browser, token, earlier_ids[round_number]),
                            browser.get(f"/t/{thread_id}").status]  # fmt: skip
                case _:  # in a thread of an earlier round: two threads of one board at once
                    side = thread_ids[round_number - 1]
                    return [_reply(browser, token, side, f"Also {index}, @kr-author."),
                            _kudos(browser, token, earlier_ids[round_number])]  # fmt: skip

        results = in_parallel(MEMBERS * 5, act)
        statuses = [s for r in results for s in (r if isinstance(r, list) else [r])]
        requests += len(statuses)
        assert sorted(statuses) == sorted([302] * (len(statuses) - MEMBERS) + [200] * MEMBERS)
        db.session.remove()
        thread = db.session.get(Thread, thread_ids[round_number])
        side_replies = MEMBERS if round_number == ROUNDS - 1 else 0  # from round 0
        assert thread.reply_count == 1 + MEMBERS + side_replies
        first = db.session.get(Post, first_ids[round_number])
        assert first.kudos_count == MEMBERS
        assert counter_problems() == []
    author = db.session.scalar(sa.select(User).where(User.username == "kr-author"))
    assert author.kudos_received == ROUNDS * 2 * MEMBERS  # each member: first post, earlier reply
    tally.add("concurrent kudos and replies", rounds=ROUNDS, requests=requests)


ACTS = 6


def test_two_moderators_on_one_post_log_every_act_and_agree_on_the_end(
    seeding, server, tally
) -> None:
    board = make_board()
    author = _seasoned("mm-author")
    moderators = [_seasoned(f"mm-mod-{n}", Role.MODERATOR).username for n in range(2)]
    member_users = [_seasoned(f"mm-member-{n}") for n in range(2 * ROUNDS)]
    members = [user.username for user in member_users]
    threads = [_thread(board, author, f"Moderated, round {n}") for n in range(ROUNDS)]
    replies = [posting.reply(db.session, member_users[0], t, "A reply to moderate.")
               for t in threads]  # fmt: skip
    db.session.commit()
    # Odd rounds work on a reply; even rounds on a first post, which removes the whole thread.
    targets = []
    for round_number, thread in enumerate(threads):
        if round_number % 2:
            targets.append(replies[round_number].id)
        else:
            targets.append(
                db.session.scalar(
                    sa.select(Post.id).where(Post.thread_id == thread.id, Post.number == 1)
                )  # fmt: skip
            )
    thread_ids = [t.id for t in threads]
    mods = _signed_in(server.base_url, moderators)
    mod_tokens = [m.csrf_token(f"/moderation/posts/{targets[0]}/remove") for m in mods]
    requests = 2
    for round_number in range(ROUNDS):
        post_id, thread_id = targets[round_number], thread_ids[round_number]
        crowd = members[2 * round_number : 2 * round_number + 2]
        browsers = _signed_in(server.base_url, crowd)
        tokens = [b.csrf_token(f"/t/{thread_id}") for b in browsers]
        requests += 4

        def act(index: int, round_number: int = round_number) -> list[Any]:
            if index < 2:  # a moderator: remove, restore, remove, … as fast as the server goes
                statuses = []
                for number in range(ACTS):
                    verb = "remove" if number % 2 == 0 else "restore"
                    statuses.append(mods[index].post_form(
                        f"/moderation/posts/{post_id}/{verb}",
                        {"csrf_token": mod_tokens[index], "reason": f"stress {verb} {number}"},
                    ).status)  # fmt: skip
                return statuses
            browser, token = browsers[index - 2], tokens[index - 2]
            return [_reply(browser, token, thread_id, f"Meanwhile {n}.") for n in range(3)]

        results = in_parallel(4, act)
        assert all(isinstance(r, list) for r in results), results
        requests += sum(len(r) for r in results)
        assert results[0] + results[1] == [302] * 2 * ACTS, results
        # While the thread is removed, it is gone for members: their replies find nothing.
        expected = {302, 404} if round_number % 2 == 0 else {302}
        assert set(results[2] + results[3]) <= expected, results

        db.session.remove()
        log = db.session.execute(
            sa.select(ModerationAction.action, ModerationAction.changed)
            .where(ModerationAction.post_id == post_id)
            .order_by(ModerationAction.id)
        ).all()
        assert len(log) == 2 * ACTS, "every act is logged, the ones that changed nothing too"
        changed = [action for action, did in log if did]
        # Acts that changed something alternate, starting with a removal of a visible post…
        assert changed and all(a.startswith("remove") for a in changed[0::2]), changed
        assert all(a.startswith("restore") for a in changed[1::2]), changed
        # …and the last of them is what the post is now.
        post = db.session.get(Post, post_id)
        assert post.is_removed == changed[-1].startswith("remove")
        thread = db.session.get(Thread, thread_id)
        if post.is_first:
            assert (thread.removed_at is not None) == post.is_removed
        assert counter_problems() == []
    tally.add("two moderators on one post (+2 members replying)", rounds=ROUNDS, requests=requests)
