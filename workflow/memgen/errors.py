"""The one exception type memgen raises for bad input.

Its message is a single line that names the culprit (config key, file, value); the CLI prints it as
``memgen: error: <message>`` and exits with status 2, so a Snakemake log ends in one readable line.
"""


class MemgenError(Exception):
    """Bad input: a config value, a file or an argument that memgen cannot use."""
