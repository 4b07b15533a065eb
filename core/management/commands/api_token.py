"""Issue, rotate, revoke and list REST API tokens (only a digest is stored: a key is printed once, when issued).

    manage.py api_token issue alice            # prints a new key for alice (her other keys keep working)
    manage.py api_token issue alice --rotate   # revokes alice's keys, then prints a new one
    manage.py api_token revoke alice           # revokes all of alice's keys
    manage.py api_token revoke alice --prefix 3f9c2a1b   # revokes the one key that starts so
    manage.py api_token list
"""
from django.core.management.base import BaseCommand, CommandError

from core.api.tokens import token_issue, token_revoke, tokens_listing, user_by_username


class Command(BaseCommand):
    help = "Issue, rotate, revoke or list REST API tokens."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        issue = sub.add_parser("issue", help="print a new key for a user (shown this once only)")
        issue.add_argument("username")
        issue.add_argument("--rotate", action="store_true", help="revoke the user's existing keys first")
        revoke = sub.add_parser("revoke", help="revoke a user's keys")
        revoke.add_argument("username")
        revoke.add_argument("--prefix", help="revoke only the key that starts with this (as `list` shows it)")
        sub.add_parser("list", help="list the tokens that still work")

    def handle(self, *args, action, **options):
        try:
            if action == "issue":
                user = user_by_username(username=options["username"])
                issued = token_issue(user=user, rotate=options["rotate"])
                until = f"{issued.expiry:%Y-%m-%d %H:%M} UTC" if issued.expiry else "never"
                self.stderr.write(f"new token for {user.get_username()} (expires {until}; shown only now):")
                self.stdout.write(issued.key)
            elif action == "revoke":
                user = user_by_username(username=options["username"])
                revoked = token_revoke(user=user, prefix=options["prefix"])
                if revoked:
                    self.stdout.write(f"revoked {revoked} token(s) of {user.get_username()}")
                else:
                    self.stdout.write(f"{user.get_username()} had no such token; nothing to revoke")
            else:
                rows = tokens_listing()
                if not rows:
                    self.stdout.write("no tokens issued")
                for row in rows:
                    until = f"{row['expiry']:%Y-%m-%d %H:%M}" if row["expiry"] else "never"
                    self.stdout.write(f"{row['username']}\t{row['key_prefix']}…\t{row['created']:%Y-%m-%d %H:%M}"
                                      f"\texpires {until}")
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
