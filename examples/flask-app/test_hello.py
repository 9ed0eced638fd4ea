"""Checks the example app with Flask's test client; no server, no Docker.

    python examples/flask-app/test_hello.py      (scripts/test runs it this way)
    pytest examples/flask-app                    (works too, where pytest is installed)
"""

import unittest

from hello import app


class HelloTest(unittest.TestCase):
    def setUp(self):
        self.client = app.test_client()

    def test_index_answers_200_with_text(self):
        response = self.client.get("/")
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response.content_type.startswith("text/plain"))
        self.assertIn("Hello", response.get_data(as_text=True))

    def test_health_answers_200(self):
        response = self.client.get("/health")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.get_json(), {"status": "ok"})

    def test_unknown_path_is_404(self):
        self.assertEqual(self.client.get("/nope").status_code, 404)


if __name__ == "__main__":
    unittest.main()
