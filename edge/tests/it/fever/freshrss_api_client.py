"""A real Fever client, PyPI's freshrss-api (pinned in deploy/install-test-deps.sh), used as an
app would use it, for edge/tests/it/fever/client.rs.

Usage: freshrss_api_client.py HOST USER PASSWORD READ_TITLE SAVE_TITLE

Signs in (the client checks `auth` on creation), lists feeds and groups, downloads the unread
items (their ids, then the items 50 at a time), marks the item titled READ_TITLE read and the
one titled SAVE_TITLE saved, reads the unread and saved items again, and prints one JSON object
with what it saw.
"""
import json
import sys

from freshrss_api import FreshRSSAPI


def main():
    host, user, password, read_title, save_title = sys.argv[1:6]
    api = FreshRSSAPI(host=host, username=user, password=password)
    feeds = api.get_feeds()
    groups = api.get_groups()
    unread = api.get_unreads()
    by_title = {item.title: item for item in unread}
    read = api.set_mark("read", by_title[read_title].id)
    saved = api.set_mark("saved", by_title[save_title].id)
    print(
        json.dumps(
            {
                "feeds": sorted(feed["title"] for feed in feeds["feeds"]),
                "groups": sorted(group["title"] for group in groups["groups"]),
                "unread": sorted(item.title for item in unread),
                "unread_html": {item.title: item.html for item in unread},
                "read_answer_has_unread_ids": "unread_item_ids" in read,
                "saved_answer_has_saved_ids": "saved_item_ids" in saved,
                "unread_after": sorted(item.title for item in api.get_unreads()),
                "saved_after": sorted(item.title for item in api.get_saved()),
            }
        )
    )


if __name__ == "__main__":
    main()
