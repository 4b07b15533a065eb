"""`manage.py demo_users`: create the demo accounts and print their logins."""
from django.core.management.base import BaseCommand

from demo.users import demo_users_ensure


class Command(BaseCommand):
    help = "Create the demo admin, analyst and annotators (idempotent) and print their logins."

    def handle(self, *args, **options):
        for username, role, password in demo_users_ensure():
            self.stdout.write(f"  {role:<10} {username:<12} {password}")
