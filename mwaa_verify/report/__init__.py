"""Reporting: console tables, Allure labels and attachments, and the sign-off summary."""
