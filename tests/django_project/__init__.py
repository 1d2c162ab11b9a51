"""A small Django project for the integration tests, in-process and under real servers.

Settings come from the environment the test gives the process:
``DJANGO_TEST_DB`` (the sqlite file, migrated by the test) and, to try a
bad configuration, ``DJANGO_TEST_SSTRACK`` (JSON for ``settings.SSTRACK``).
"""
