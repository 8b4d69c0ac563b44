# The dispatcher's old name: `manage.py dialer` still runs `manage.py dispatcher`.
from campaigns.management.commands.dispatcher import Command  # noqa: F401
