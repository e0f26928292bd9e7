"""English names of the languages, by ISO 639-1 code, for prompts that name a language ("Translate into French")."""

LANGUAGE_NAMES = {
    "en": "English",
    "fr": "French",
    "de": "German",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "zh": "Chinese",
    "ja": "Japanese",
    "ru": "Russian",
    "th": "Thai",
    "sw": "Swahili",
    "bn": "Bengali",
    "te": "Telugu",
    "ko": "Korean",
    "ar": "Arabic",
}
