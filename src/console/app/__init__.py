"""The composition root: builds the QApplication, the loop, the services and the window.

Importing this package is cheap; `console.app.main` holds the Qt start-up.
"""
