from django.core.management.base import BaseCommand
from django.urls import reverse

from newvoice.demo.seed import PASSWORD_ENV, SeedReport, seed_demo


class Command(BaseCommand):
    help = (
        "Create the demo organization, its admin and operator users, two skillbases and two draft campaigns. "
        "Running it again changes nothing and prints the sign-in details."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset-password",
            action="store_true",
            help=f"Give both demo users a new password: ${PASSWORD_ENV} if set, otherwise a random one.",
        )

    def handle(self, *args, reset_password: bool = False, **options):
        report = seed_demo(reset_password=reset_password)
        self._print_rows(report)
        self._print_logins(report)
        for warning in report.warnings:
            self.stdout.write(self.style.WARNING(f"Warning: {warning}"))

    def _print_rows(self, report: SeedReport) -> None:
        created = sum(1 for _what, _status, is_new in report.rows if is_new)
        self.stdout.write(f"Demo data ({created} created, {len(report.rows) - created} already present):")
        width = max(len(what) for what, _status, _new in report.rows)
        for what, status, is_new in report.rows:
            styled = self.style.SUCCESS(status) if is_new else status
            self.stdout.write(f"  {what.ljust(width)}  {styled}")

    def _print_logins(self, report: SeedReport) -> None:
        self.stdout.write("")
        self.stdout.write(
            f"Sign in at http://127.0.0.1:8000{reverse('admin:index')} (where `make run` serves; else your server's address):"
        )
        width = max(len(login.username) for login in report.logins)
        for login in report.logins:
            password = login.password if login.password is not None else f"({login.note})"
            source = f"  [{login.note}]" if login.password is not None else ""
            self.stdout.write(f"  {login.username.ljust(width)}  {password}{source}  - {login.description}")
        if any(login.password is not None for login in report.logins):
            self.stdout.write(
                f"These passwords are kept in {report.credentials_file} (readable only by you). "
                "Change them in the admin, then delete the file."
            )
