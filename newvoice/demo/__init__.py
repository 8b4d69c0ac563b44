"""The demo installation (``manage.py seed_demo``): its data files and the function that loads them.

``salon_ru.json`` and ``dental_en.json`` are complete skillbase configurations (the format of
``skillbases.schemas``); the CSV files are the contacts of the two demo campaigns.
"""
