"""Issue, rotate, revoke and list REST API tokens.

    manage.py api_token issue alice            # prints alice's token (creates one if needed)
    manage.py api_token issue alice --rotate   # replaces it; the old key stops working
    manage.py api_token revoke alice
    manage.py api_token list
"""
from django.core.management.base import BaseCommand, CommandError

from core.api.tokens import token_issue, token_revoke, tokens_listing, user_by_username


class Command(BaseCommand):
    help = "Issue, rotate, revoke or list REST API tokens."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        issue = sub.add_parser("issue", help="print a user's token, creating it if needed")
        issue.add_argument("username")
        issue.add_argument("--rotate", action="store_true", help="replace an existing token with a new key")
        revoke = sub.add_parser("revoke", help="delete a user's token")
        revoke.add_argument("username")
        sub.add_parser("list", help="list users that hold a token")

    def handle(self, *args, action, **options):
        try:
            if action == "issue":
                user = user_by_username(username=options["username"])
                token, created = token_issue(user=user, rotate=options["rotate"])
                verb = "issued" if created else "existing"
                self.stderr.write(f"{verb} token for {user.get_username()}:")
                self.stdout.write(token.key)
            elif action == "revoke":
                user = user_by_username(username=options["username"])
                if token_revoke(user=user):
                    self.stdout.write(f"revoked the token of {user.get_username()}")
                else:
                    self.stdout.write(f"{user.get_username()} had no token; nothing to revoke")
            else:
                rows = tokens_listing()
                if not rows:
                    self.stdout.write("no tokens issued")
                for row in rows:
                    self.stdout.write(f"{row['username']}\t{row['key_prefix']}…\t{row['created']:%Y-%m-%d %H:%M}")
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
