"""`make bench`: run every benchmark and print its figures."""

from bench import status

for line in status.run():
    print(line, flush=True)
