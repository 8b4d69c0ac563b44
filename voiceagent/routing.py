from django.urls import path

from voiceagent.consumers import TryBotConsumer

websocket_urlpatterns = [path("ws/skillbases/<int:skillbase_id>/try", TryBotConsumer.as_asgi())]
