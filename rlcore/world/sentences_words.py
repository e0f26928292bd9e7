"""The embedded world's translation vocabulary (data tables only; rlcore/world/sentences_grammar.py renders them).

One row per concept, one column per language in the order of `COLUMNS`; the same row index is the same concept in
every language, which is what makes a canonical sentence's renderings exact translations of each other. A noun cell
is "gender singular/plural" (English nouns have no gender; German genders are m, f, n); an adjective cell of a
Romance language is "masc.sg/fem.sg/masc.pl/fem.pl", of English and German the invariable form or stem.
"""

COLUMNS: tuple[str, ...] = ("en", "fr", "de", "es", "it", "pt")

# Names are the same in every language (translations keep them), so they never show which language a text is in.
NAMES: tuple[str, ...] = ("Anna", "Marco", "Sofia", "Leo", "Clara", "David")

SUBJECT_NOUNS: tuple[tuple[str, ...], ...] = (
    ("boy/boys", "m garçon/garçons", "m Junge/Jungen", "m niño/niños", "m ragazzo/ragazzi", "m menino/meninos"),
    ("girl/girls", "f fille/filles", "n Mädchen/Mädchen", "f niña/niñas", "f ragazza/ragazze", "f menina/meninas"),
    ("dog/dogs", "m chien/chiens", "m Hund/Hunde", "m perro/perros", "m cane/cani", "m cão/cães"),
    ("cat/cats", "m chat/chats", "f Katze/Katzen", "m gato/gatos", "m gatto/gatti", "m gato/gatos"),
    ("woman/women", "f femme/femmes", "f Frau/Frauen", "f mujer/mujeres", "f donna/donne", "f mulher/mulheres"),
    ("doctor/doctors", "m médecin/médecins", "m Arzt/Ärzte", "m médico/médicos", "m medico/medici", "m médico/médicos"),
)

# Verbs: third person singular present; the English cell is "base/3sg" (questions use the base form).
VERBS: tuple[tuple[str, ...], ...] = (
    ("see/sees", "voit", "sieht", "ve", "vede", "vê"),
    ("buy/buys", "achète", "kauft", "compra", "compra", "compra"),
    ("find/finds", "trouve", "findet", "encuentra", "trova", "encontra"),
    ("carry/carries", "porte", "trägt", "lleva", "porta", "leva"),
    ("sell/sells", "vend", "verkauft", "vende", "vende", "vende"),
    ("want/wants", "veut", "will", "quiere", "vuole", "quer"),
    ("paint/paints", "peint", "malt", "pinta", "dipinge", "pinta"),
    ("wash/washes", "lave", "wäscht", "lava", "lava", "lava"),
)

OBJECTS: tuple[tuple[str, ...], ...] = (
    ("book/books", "m livre/livres", "n Buch/Bücher", "m libro/libros", "m libro/libri", "m livro/livros"),
    ("apple/apples", "f pomme/pommes", "m Apfel/Äpfel", "f manzana/manzanas", "f mela/mele", "f maçã/maçãs"),
    ("ball/balls", "f balle/balles", "m Ball/Bälle", "f pelota/pelotas", "f palla/palle", "f bola/bolas"),
    ("box/boxes", "f boîte/boîtes", "f Kiste/Kisten", "f caja/cajas", "f scatola/scatole", "f caixa/caixas"),
    ("car/cars", "f voiture/voitures", "n Auto/Autos", "m coche/coches", "f macchina/macchine", "m carro/carros"),
    ("letter/letters", "f lettre/lettres", "m Brief/Briefe", "f carta/cartas", "f lettera/lettere", "f carta/cartas"),
    ("flower/flowers", "f fleur/fleurs", "f Blume/Blumen", "f flor/flores", "m fiore/fiori", "f flor/flores"),
    ("key/keys", "f clé/clés", "m Schlüssel/Schlüssel", "f llave/llaves", "f chiave/chiavi", "f chave/chaves"),
    ("hat/hats", "m chapeau/chapeaux", "m Hut/Hüte", "m sombrero/sombreros", "m cappello/cappelli", "m chapéu/chapéus"),
    ("bag/bags", "m sac/sacs", "f Tasche/Taschen", "m bolso/bolsos", "f borsa/borse", "f bolsa/bolsas"),
    ("chair/chairs", "f chaise/chaises", "m Stuhl/Stühle", "f silla/sillas", "f sedia/sedie", "f cadeira/cadeiras"),
    ("pen/pens", "m stylo/stylos", "m Stift/Stifte", "m bolígrafo/bolígrafos", "f penna/penne", "f caneta/canetas"),
)

# Only adjectives that follow the noun in French (colours, "lourd"): "petit", "grand" or "nouveau" would precede it.
ADJECTIVES: tuple[tuple[str, ...], ...] = (
    (
        "red",
        "rouge/rouge/rouges/rouges",
        "rot",
        "rojo/roja/rojos/rojas",
        "rosso/rossa/rossi/rosse",
        "vermelho/vermelha/vermelhos/vermelhas",
    ),
    (
        "green",
        "vert/verte/verts/vertes",
        "grün",
        "verde/verde/verdes/verdes",
        "verde/verde/verdi/verdi",
        "verde/verde/verdes/verdes",
    ),
    (
        "black",
        "noir/noire/noirs/noires",
        "schwarz",
        "negro/negra/negros/negras",
        "nero/nera/neri/nere",
        "preto/preta/pretos/pretas",
    ),
    (
        "white",
        "blanc/blanche/blancs/blanches",
        "weiß",
        "blanco/blanca/blancos/blancas",
        "bianco/bianca/bianchi/bianche",
        "branco/branca/brancos/brancas",
    ),
    (
        "yellow",
        "jaune/jaune/jaunes/jaunes",
        "gelb",
        "amarillo/amarilla/amarillos/amarillas",
        "giallo/gialla/gialli/gialle",
        "amarelo/amarela/amarelos/amarelas",
    ),
    (
        "heavy",
        "lourd/lourde/lourds/lourdes",
        "schwer",
        "pesado/pesada/pesados/pesadas",
        "pesante/pesante/pesanti/pesanti",
        "pesado/pesada/pesados/pesadas",
    ),
)

PLACES: tuple[tuple[str, ...], ...] = (
    ("in the park", "au parc", "im Park", "en el parque", "al parco", "no parque"),
    ("in the garden", "dans le jardin", "im Garten", "en el jardín", "in giardino", "no jardim"),
    ("at the market", "au marché", "auf dem Markt", "en el mercado", "al mercato", "no mercado"),
    ("in the kitchen", "dans la cuisine", "in der Küche", "en la cocina", "in cucina", "na cozinha"),
    ("at school", "à l'école", "in der Schule", "en la escuela", "a scuola", "na escola"),
    ("at home", "à la maison", "zu Hause", "en casa", "a casa", "em casa"),
)

TIMES: tuple[tuple[str, ...], ...] = (
    ("today", "aujourd'hui", "heute", "hoy", "oggi", "hoje"),
    ("every morning", "chaque matin", "jeden Morgen", "cada mañana", "ogni mattina", "todas as manhãs"),
    ("in the evening", "le soir", "am Abend", "por la noche", "la sera", "à noite"),
    ("on Sunday", "le dimanche", "am Sonntag", "el domingo", "la domenica", "no domingo"),
    ("now", "maintenant", "jetzt", "ahora", "adesso", "agora"),
)

# Articles by gender: the subject's (nominative) and the object's (accusative: differs in German only).
DEFINITE: dict[str, dict[str, str]] = {
    "en": {"": "the"},
    "fr": {"m": "le", "f": "la"},
    "de": {"m": "der", "f": "die", "n": "das"},
    "es": {"m": "el", "f": "la"},
    "it": {"m": "il", "f": "la"},
    "pt": {"m": "o", "f": "a"},
}
INDEFINITE: dict[str, dict[str, str]] = {
    "en": {"": "a"},
    "fr": {"m": "un", "f": "une"},
    "de": {"m": "ein", "f": "eine", "n": "ein"},
    "es": {"m": "un", "f": "una"},
    "it": {"m": "un", "f": "una"},
    "pt": {"m": "um", "f": "uma"},
}
GERMAN_ACCUSATIVE: dict[str, dict[str, str]] = {
    "definite": {"m": "den", "f": "die", "n": "das"},
    "indefinite": {"m": "einen", "f": "eine", "n": "ein"},
}
# German attributive adjective endings after each determiner kind (accusative), by gender; "number": plural.
GERMAN_ENDINGS: dict[str, dict[str, str]] = {
    "definite": {"m": "en", "f": "e", "n": "e"},
    "indefinite": {"m": "en", "f": "e", "n": "es"},
    "number": {"m": "e", "f": "e", "n": "e"},
}

# Sentence shapes: slots {s} subject, {v} verb (English questions: base form), {o} object, {p} place, {t} time.
# Empty optional slots vanish; the final mark is added per language (`FINAL_MARKS`).
SHAPES: dict[str, dict[str, str]] = {
    "statement": {"de": "{s} {v} {t} {o} {p}", "*": "{s} {v} {o} {p} {t}"},
    # German puts the verb second: the time adverbial in first position pushes the subject after the verb.
    "time_first": {"de": "{t} {v} {s} {o} {p}", "*": "{t}, {s} {v} {o} {p}"},
    "question": {
        "en": "does {s} {v} {o} {p} {t}",
        "fr": "est-ce que {s} {v} {o} {p} {t}",
        "de": "{v} {s} {t} {o} {p}",
        "es": "¿{v} {s} {o} {p} {t}",
        "*": "{s} {v} {o} {p} {t}",
    },
}
FINAL_MARKS: dict[str, dict[str, str]] = {
    "statement": {"*": "."},
    "time_first": {"*": "."},
    "question": {"fr": " ?", "*": "?"},  # French typography: a space before the question mark, as in lexicon.py
}
