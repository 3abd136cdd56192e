"""The orders API: /orders and the actions on one order."""

from rest_framework.routers import SimpleRouter

from orders.api.views import OrderViewSet

router = SimpleRouter(trailing_slash=False)
router.register("orders", OrderViewSet, basename="order")

urlpatterns = router.urls
