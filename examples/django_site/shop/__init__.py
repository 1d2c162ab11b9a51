"""The sstrack example shop: a Django project with sstrack's middleware."""
