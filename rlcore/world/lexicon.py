"""The embedded world's words, per language: step sentences, number words, names, objects, containers and question
templates (data tables only; rlcore/world/tasks.py renders problems from them)."""

# Step sentence per language and operator: "{l} plus {r} is {res}."
STEP_FORMATS: dict[str, dict[str, str]] = {
    "en": {"+": "{l} plus {r} is {res}.", "-": "{l} minus {r} is {res}.", "*": "{l} times {r} is {res}."},
    "fr": {"+": "{l} plus {r} font {res}.", "-": "{l} moins {r} font {res}.", "*": "{l} fois {r} font {res}."},
    "de": {"+": "{l} plus {r} ist {res}.", "-": "{l} weniger {r} ist {res}.", "*": "{l} mal {r} ist {res}."},
    "es": {"+": "{l} más {r} son {res}.", "-": "{l} menos {r} son {res}.", "*": "{l} por {r} son {res}."},
    "it": {"+": "{l} più {r} fa {res}.", "-": "{l} meno {r} fa {res}.", "*": "{l} per {r} fa {res}."},
    "pt": {"+": "{l} mais {r} são {res}.", "-": "{l} menos {r} são {res}.", "*": "{l} vezes {r} são {res}."},
}

NUMBER_WORDS: dict[str, list[str]] = {
    "en": [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
        "twenty",
    ],
    "fr": [
        "zéro",
        "un",
        "deux",
        "trois",
        "quatre",
        "cinq",
        "six",
        "sept",
        "huit",
        "neuf",
        "dix",
        "onze",
        "douze",
        "treize",
        "quatorze",
        "quinze",
        "seize",
        "dix-sept",
        "dix-huit",
        "dix-neuf",
        "vingt",
    ],
    "de": [
        "null",
        "eins",
        "zwei",
        "drei",
        "vier",
        "fünf",
        "sechs",
        "sieben",
        "acht",
        "neun",
        "zehn",
        "elf",
        "zwölf",
        "dreizehn",
        "vierzehn",
        "fünfzehn",
        "sechzehn",
        "siebzehn",
        "achtzehn",
        "neunzehn",
        "zwanzig",
    ],
    "es": [
        "cero",
        "uno",
        "dos",
        "tres",
        "cuatro",
        "cinco",
        "seis",
        "siete",
        "ocho",
        "nueve",
        "diez",
        "once",
        "doce",
        "trece",
        "catorce",
        "quince",
        "dieciséis",
        "diecisiete",
        "dieciocho",
        "diecinueve",
        "veinte",
    ],
    "it": [
        "zero",
        "uno",
        "due",
        "tre",
        "quattro",
        "cinque",
        "sei",
        "sette",
        "otto",
        "nove",
        "dieci",
        "undici",
        "dodici",
        "tredici",
        "quattordici",
        "quindici",
        "sedici",
        "diciassette",
        "diciotto",
        "diciannove",
        "venti",
    ],
    "pt": [
        "zero",
        "um",
        "dois",
        "três",
        "quatro",
        "cinco",
        "seis",
        "sete",
        "oito",
        "nove",
        "dez",
        "onze",
        "doze",
        "treze",
        "catorze",
        "quinze",
        "dezesseis",
        "dezessete",
        "dezoito",
        "dezenove",
        "vinte",
    ],
}
# Feminine forms where a number word agrees with its noun.
FEMININE_NUMBER_WORDS: dict[str, dict[int, str]] = {
    "fr": {1: "une"},
    "es": {1: "una"},
    "it": {1: "una"},
    "pt": {1: "uma", 2: "duas"},
}

# Entities: the same index means the same person/object in every language. Gender: "m" or "f".
NAMES: dict[str, tuple[tuple[str, str], ...]] = {
    "en": (("Anna", "f"), ("Tom", "m"), ("Lucy", "f"), ("Ben", "m"), ("Emma", "f"), ("Jack", "m")),
    "fr": (("Marie", "f"), ("Paul", "m"), ("Claire", "f"), ("Louis", "m"), ("Julie", "f"), ("Thomas", "m")),
    "de": (("Anna", "f"), ("Lukas", "m"), ("Lena", "f"), ("Felix", "m"), ("Mia", "f"), ("Jonas", "m")),
    "es": (("Lucía", "f"), ("Pablo", "m"), ("Sofía", "f"), ("Diego", "m"), ("Carmen", "f"), ("Javier", "m")),
    "it": (("Giulia", "f"), ("Marco", "m"), ("Chiara", "f"), ("Luca", "m"), ("Sara", "f"), ("Paolo", "m")),
    "pt": (("Ana", "f"), ("João", "m"), ("Beatriz", "f"), ("Pedro", "m"), ("Inês", "f"), ("Tiago", "m")),
}
OBJECTS: dict[str, tuple[tuple[str, str], ...]] = {
    "en": tuple((w, "m") for w in ["apples", "pencils", "books", "cookies", "marbles", "stamps", "flowers", "cards"]),
    "fr": (
        ("pommes", "f"),
        ("crayons", "m"),
        ("livres", "m"),
        ("biscuits", "m"),
        ("billes", "f"),
        ("timbres", "m"),
        ("fleurs", "f"),
        ("cartes", "f"),
    ),
    "de": tuple((w, "m") for w in ["Äpfel", "Stifte", "Bücher", "Kekse", "Murmeln", "Briefmarken", "Blumen", "Karten"]),
    "es": (
        ("manzanas", "f"),
        ("lápices", "m"),
        ("libros", "m"),
        ("galletas", "f"),
        ("canicas", "f"),
        ("sellos", "m"),
        ("flores", "f"),
        ("cartas", "f"),
    ),
    "it": (
        ("mele", "f"),
        ("matite", "f"),
        ("libri", "m"),
        ("biscotti", "m"),
        ("biglie", "f"),
        ("francobolli", "m"),
        ("fiori", "m"),
        ("carte", "f"),
    ),
    "pt": (
        ("maçãs", "f"),
        ("lápis", "m"),
        ("livros", "m"),
        ("biscoitos", "m"),
        ("bolinhas", "f"),
        ("selos", "m"),
        ("flores", "f"),
        ("cartas", "f"),
    ),
}
# Containers for the multiply kind: template i uses container i.
CONTAINERS: dict[str, tuple[tuple[str, str], ...]] = {
    "en": (("boxes", "m"), ("bags", "m"), ("baskets", "m")),
    "fr": (("boîtes", "f"), ("sacs", "m"), ("paniers", "m")),
    "de": (("Schachteln", "f"), ("Tüten", "f"), ("Körbe", "m")),
    "es": (("cajas", "f"), ("bolsas", "f"), ("cestas", "f")),
    "it": (("scatole", "f"), ("sacchetti", "m"), ("cestini", "m")),
    "pt": (("caixas", "f"), ("sacos", "m"), ("cestos", "m")),
}

# Question templates per language and kind. Placeholders: {name} {obj} {obj_dat} (German dative plural) {box}
# {a} {b} {c}; agreement markers
# [p:masc/fem] follow the person's gender, [o:...] the object's, [c:...] the container's.
TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "add": (
            "{name} has {a} {obj}. [p:He/She] gets {b} more {obj}. How many {obj} does [p:he/she] have now?",
            "There are {a} {obj} on the table. {name} puts {b} more {obj} on the table. "
            "How many {obj} are on the table now?",
            "{name} collected {a} {obj} on Monday and {b} {obj} on Tuesday. "
            "How many {obj} did [p:he/she] collect in total?",
        ),
        "sub": (
            "{name} has {a} {obj}. [p:He/She] gives {b} {obj} to a friend. How many {obj} does [p:he/she] have left?",
            "There are {a} {obj} in a basket. {name} takes {b} {obj} out of the basket. "
            "How many {obj} are left in the basket?",
            "{name} had {a} {obj} but lost {b} of them. How many {obj} does {name} have now?",
        ),
        "add_sub": (
            "{name} has {a} {obj}. [p:He/She] buys {b} more and then gives away {c}. "
            "How many {obj} does [p:he/she] have now?",
            "There are {a} {obj} in a box. {name} adds {b} {obj} and later removes {c} {obj}. "
            "How many {obj} are in the box now?",
            "{name} collected {a} {obj} on Monday and {b} {obj} on Tuesday. On Wednesday [p:he/she] lost {c} {obj}. "
            "How many {obj} does {name} have now?",
        ),
        "mul": (
            "{name} has {a} {box} with {b} {obj} in each. How many {obj} does [p:he/she] have in total?",
            "There are {a} {box}, and each one holds {b} {obj}. How many {obj} are there altogether?",
            "{name} fills {a} {box} with {b} {obj} each. How many {obj} does {name} use?",
        ),
    },
    "fr": {
        "add": (
            "{name} a {a} {obj}. [p:Il/Elle] en reçoit encore {b}. Combien de {obj} [p:a-t-il/a-t-elle] maintenant ?",
            "Il y a {a} {obj} sur la table. {name} pose {b} autres {obj} sur la table. "
            "Combien de {obj} y a-t-il maintenant sur la table ?",
            "{name} a ramassé {a} {obj} lundi et {b} {obj} mardi. "
            "Combien de {obj} [p:a-t-il/a-t-elle] ramassé en tout ?",
        ),
        "sub": (
            "{name} a {a} {obj}. [p:Il/Elle] en donne {b} à un ami. Combien de {obj} lui reste-t-il ?",
            "Il y a {a} {obj} dans un panier. {name} en retire {b}. Combien de {obj} reste-t-il dans le panier ?",
            "{name} avait {a} {obj}, mais [p:il/elle] en a perdu {b}. "
            "Combien de {obj} [p:a-t-il/a-t-elle] maintenant ?",
        ),
        "add_sub": (
            "{name} a {a} {obj}. [p:Il/Elle] en achète {b} de plus, puis en donne {c}. "
            "Combien de {obj} [p:a-t-il/a-t-elle] maintenant ?",
            "Il y a {a} {obj} dans une boîte. {name} en ajoute {b}, puis en retire {c}. "
            "Combien de {obj} y a-t-il maintenant dans la boîte ?",
            "{name} a ramassé {a} {obj} lundi et {b} {obj} mardi. Mercredi, [p:il/elle] en a perdu {c}. "
            "Combien de {obj} [p:a-t-il/a-t-elle] maintenant ?",
        ),
        "mul": (
            "{name} a {a} {box} avec {b} {obj} dans chac[c:un/une]. Combien de {obj} [p:a-t-il/a-t-elle] en tout ?",
            "Il y a {a} {box}, et chac[c:un/une] contient {b} {obj}. Combien de {obj} y a-t-il en tout ?",
            "{name} remplit {a} {box} avec {b} {obj} chac[c:un/une]. "
            "Combien de {obj} [p:utilise-t-il/utilise-t-elle] ?",
        ),
    },
    "de": {
        "add": (
            "{name} hat {a} {obj}. [p:Er/Sie] bekommt noch {b} {obj} dazu. Wie viele {obj} hat [p:er/sie] jetzt?",
            "Auf dem Tisch liegen {a} {obj}. {name} legt noch {b} {obj} dazu. "
            "Wie viele {obj} liegen jetzt auf dem Tisch?",
            "{name} sammelt am Montag {a} {obj} und am Dienstag {b} {obj}. "
            "Wie viele {obj} hat [p:er/sie] insgesamt gesammelt?",
        ),
        "sub": (
            "{name} hat {a} {obj}. [p:Er/Sie] schenkt einem Freund {b} {obj}. Wie viele {obj} hat [p:er/sie] noch?",
            "In einem Korb liegen {a} {obj}. {name} nimmt {b} {obj} heraus. Wie viele {obj} liegen noch im Korb?",
            "{name} hatte {a} {obj}, hat aber {b} davon verloren. Wie viele {obj} hat [p:er/sie] jetzt?",
        ),
        "add_sub": (
            "{name} hat {a} {obj}. [p:Er/Sie] kauft {b} {obj} dazu und verschenkt dann {c}. "
            "Wie viele {obj} hat [p:er/sie] jetzt?",
            "In einer Kiste liegen {a} {obj}. {name} legt {b} {obj} hinein und nimmt später {c} {obj} heraus. "
            "Wie viele {obj} liegen jetzt in der Kiste?",
            "{name} sammelt am Montag {a} {obj} und am Dienstag {b} {obj}. Am Mittwoch verliert [p:er/sie] {c} {obj}. "
            "Wie viele {obj} hat [p:er/sie] jetzt?",
        ),
        "mul": (
            "{name} hat {a} {box} mit je {b} {obj_dat}. Wie viele {obj} hat [p:er/sie] insgesamt?",
            "Es gibt {a} {box}, in [c:jedem/jeder] liegen {b} {obj}. Wie viele {obj} sind das zusammen?",
            "{name} füllt {a} {box} mit jeweils {b} {obj_dat}. Wie viele {obj} braucht [p:er/sie]?",
        ),
    },
    "es": {
        "add": (
            "{name} tiene {a} {obj}. Le dan {b} {obj} más. ¿[o:Cuántos/Cuántas] {obj} tiene ahora?",
            "Hay {a} {obj} en la mesa. {name} pone {b} {obj} más en la mesa. "
            "¿[o:Cuántos/Cuántas] {obj} hay ahora en la mesa?",
            "{name} recogió {a} {obj} el lunes y {b} {obj} el martes. ¿[o:Cuántos/Cuántas] {obj} recogió en total?",
        ),
        "sub": (
            "{name} tiene {a} {obj}. Le regala {b} {obj} a un amigo. ¿[o:Cuántos/Cuántas] {obj} le quedan?",
            "Hay {a} {obj} en una cesta. {name} saca {b} {obj} de la cesta. "
            "¿[o:Cuántos/Cuántas] {obj} quedan en la cesta?",
            "{name} tenía {a} {obj}, pero perdió {b}. ¿[o:Cuántos/Cuántas] {obj} tiene ahora?",
        ),
        "add_sub": (
            "{name} tiene {a} {obj}. Compra {b} más y luego regala {c}. ¿[o:Cuántos/Cuántas] {obj} tiene ahora?",
            "Hay {a} {obj} en una caja. {name} añade {b} {obj} y después saca {c}. "
            "¿[o:Cuántos/Cuántas] {obj} hay ahora en la caja?",
            "{name} recogió {a} {obj} el lunes y {b} el martes. El miércoles perdió {c}. "
            "¿[o:Cuántos/Cuántas] {obj} tiene ahora?",
        ),
        "mul": (
            "{name} tiene {a} {box} con {b} {obj} en cada [c:uno/una]. ¿[o:Cuántos/Cuántas] {obj} tiene en total?",
            "Hay {a} {box} y en cada [c:uno/una] hay {b} {obj}. ¿[o:Cuántos/Cuántas] {obj} hay en total?",
            "{name} llena {a} {box} con {b} {obj} cada [c:uno/una]. ¿[o:Cuántos/Cuántas] {obj} usa?",
        ),
    },
    "it": {
        "add": (
            "{name} ha {a} {obj}. Ne riceve altr[o:i/e] {b}. [o:Quanti/Quante] {obj} ha adesso?",
            "Sul tavolo ci sono {a} {obj}. {name} ne mette altr[o:i/e] {b} sul tavolo. "
            "[o:Quanti/Quante] {obj} ci sono adesso sul tavolo?",
            "{name} ha raccolto {a} {obj} lunedì e {b} {obj} martedì. [o:Quanti/Quante] {obj} ha raccolto in tutto?",
        ),
        "sub": (
            "{name} ha {a} {obj}. Ne regala {b} a un amico. [o:Quanti/Quante] {obj} [p:gli/le] restano?",
            "In un cestino ci sono {a} {obj}. {name} ne toglie {b}. [o:Quanti/Quante] {obj} restano nel cestino?",
            "{name} aveva {a} {obj}, ma ne ha pers[o:i/e] {b}. [o:Quanti/Quante] {obj} ha adesso?",
        ),
        "add_sub": (
            "{name} ha {a} {obj}. Ne compra altr[o:i/e] {b} e poi ne regala {c}. [o:Quanti/Quante] {obj} ha adesso?",
            "In una scatola ci sono {a} {obj}. {name} ne aggiunge {b} e poi ne toglie {c}. "
            "[o:Quanti/Quante] {obj} ci sono adesso nella scatola?",
            "{name} ha raccolto {a} {obj} lunedì e {b} martedì. Mercoledì ne ha pers[o:i/e] {c}. "
            "[o:Quanti/Quante] {obj} ha adesso?",
        ),
        "mul": (
            "{name} ha {a} {box} con {b} {obj} in ciascun[c:o/a]. [o:Quanti/Quante] {obj} ha in tutto?",
            "Ci sono {a} {box} e ognun[c:o/a] contiene {b} {obj}. [o:Quanti/Quante] {obj} ci sono in tutto?",
            "{name} riempie {a} {box} con {b} {obj} ciascun[c:o/a]. [o:Quanti/Quante] {obj} usa?",
        ),
    },
    "pt": {
        "add": (
            "{name} tem {a} {obj}. [p:Ele/Ela] ganha mais {b} {obj}. [o:Quantos/Quantas] {obj} [p:ele/ela] tem agora?",
            "Há {a} {obj} na mesa. {name} coloca mais {b} {obj} na mesa. [o:Quantos/Quantas] {obj} há agora na mesa?",
            "{name} juntou {a} {obj} na segunda-feira e {b} {obj} na terça-feira. "
            "[o:Quantos/Quantas] {obj} [p:ele/ela] juntou no total?",
        ),
        "sub": (
            "{name} tem {a} {obj}. [p:Ele/Ela] dá {b} {obj} a um amigo. "
            "Com [o:quantos/quantas] {obj} [p:ele/ela] fica?",
            "Há {a} {obj} numa cesta. {name} tira {b} {obj} da cesta. [o:Quantos/Quantas] {obj} restam na cesta?",
            "{name} tinha {a} {obj}, mas perdeu {b}. [o:Quantos/Quantas] {obj} [p:ele/ela] tem agora?",
        ),
        "add_sub": (
            "{name} tem {a} {obj}. [p:Ele/Ela] compra mais {b} e depois dá {c}. "
            "[o:Quantos/Quantas] {obj} [p:ele/ela] tem agora?",
            "Há {a} {obj} numa caixa. {name} coloca mais {b} {obj} e depois tira {c}. "
            "[o:Quantos/Quantas] {obj} há agora na caixa?",
            "{name} juntou {a} {obj} na segunda-feira e {b} na terça-feira. Na quarta-feira, [p:ele/ela] perdeu {c}. "
            "[o:Quantos/Quantas] {obj} [p:ele/ela] tem agora?",
        ),
        "mul": (
            "{name} tem {a} {box} com {b} {obj} em cada [c:um/uma]. "
            "[o:Quantos/Quantas] {obj} [p:ele/ela] tem no total?",
            "Há {a} {box} e cada [c:um/uma] tem {b} {obj}. [o:Quantos/Quantas] {obj} há no total?",
            "{name} enche {a} {box} com {b} {obj} cada [c:um/uma]. [o:Quantos/Quantas] {obj} [p:ele/ela] usa?",
        ),
    },
}
