"""Boards, threads and posts: the forum members read and write."""
