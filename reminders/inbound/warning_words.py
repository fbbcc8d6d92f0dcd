"""PURE: the words of warning-sign triage (AFTERCARE.md), English and Spanish, as regex fragments.

Every fragment is written in plain spelling and matched against replies that are lower-cased,
stripped of accents and apostrophes, and squeezed (a run of one repeated letter counts once),
so "Swolen", "bleding", "puss", "itchyyy" and "hinchazón" all match; see replies.triage_text.
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Sign -> what a patient writes to report it; the order is the order signs are listed in.
SIGNS: dict[str, tuple[str, ...]] = {
    "pain": (
        r"pain(?:s|ful|full)?",
        r"hurt\w*",
        r"ache[sd]?|aching|achy",
        r"sore(?:ness)?|throbb\w*",
        r"dolor\w*|adolorid\w*|duele\w*|doli\w*",
    ),
    "warmth": (
        r"hot|warm\w*|heat",
        r"burn(?:s|ing|ed|t)?|on fire",
        r"calor|calorcito|calientes?|quema|queman|quemando|quemazon|arde|arden|ardor|ardiendo|ardiente",
    ),
    "pus": (
        r"pus|ooze[sd]?|oozing|oozy|discharge|weeping|gunk|gooey|(?:some|yellow|white|green)\s+goo",
        r"yellow\w*\s+(?:stuff|liquid|fluid|crust\w*|bits|goo|gunk)|crusty\s+yellow",
        r"supura\w*|liquido\s+amarillo|costras?\s+amarillas?|secrecion\w*",
    ),
    "fever": (
        r"fever(?:s|ish|y)?|fevr|chills",
        r"(?:a|high|running|have|got|with)\s+(?:a\s+)?(?:high\s+|slight\s+)?temp(?:erature)?",
        r"temp(?:erature)?\s+(?:(?:is|of|was)\s+)?(?:\d+|high|up)|high\s+temp(?:erature)?",
        r"fiebre|febre|calentura|febricula|escalofrios?|tengo\s+temperatura",
        r"(?:tengo|con|de)\s+3[89](?:[.,]\d)?",
    ),
    "spreading redness": (
        # A red word and a spreading word in the same clause, either order, no negation between.
        r"(?:{red})(?:\s+(?!(?:{neg})\b)\w+){{0,6}}?\s+(?:{spread})",
        r"(?:{spread})(?:\s+(?!(?:{neg})\b)\w+){{0,6}}?\s+(?:{red})",
        r"red\s+(?:streaks?|lines?)|(?:lineas|rayas)\s+rojas|cellulitis|celulitis",
    ),
    "infection": (r"infec\w*|septic|sepsis",),
    "swelling": (
        r"swel\w*|swol\w*|puffy|puffiness|puffed|inflam\w*",
        r"hinch\w*|inch(?:az|ad|ar|ando|aron|o\b)\w*",
    ),
    "bleeding": (r"bleed\w*|bled|blood\w*", r"sangr(?:a|an|e|o|ar|ado|ados|ando|aba|aban|ita)"),
    "blisters": (
        r"blister\w*|(?:water|little|tiny|small)\s+bubbles",
        r"ampoll\w*|ampoy\w*|vesicula\w*",
    ),
    "rash": (
        r"rash\w*|hives|welts|blotch\w*|allergic\s+reaction",
        r"red\s+(?:spots|dots|blotches)",
        r"sarpull\w*|salpull\w*|sarpuy\w*|salpuy\w*|ronch\w*|urticaria|erupcion\w*",
        r"reaccion\s+alergica|alergia|manch(?:a|as|ita|itas)\s+rojas?|puntitos\s+rojos",
    ),
    "itching": (
        r"itch\w*|scratch\w*",
        r"pica|pican|picando|picaba|picor\w*|picaz\w*|picason|comezon|prurito",
        r"rasco|rascarme|rascando|rascandome",
    ),
    "dark patches": (
        r"dark\w*\s+(?:patch\w*|spots?|marks?|areas?|blotch\w*)|darker",
        r"brown\w*\s+(?:patch\w*|spots?|marks?)|hyperpigment\w*|pigment\w*|discolo\w*",
        r"manch(?:a|as|ita|itas)(?!\s+roj)|oscurec\w*|mas\s+oscur\w*|hiperpigment\w*",
    ),
    "bumps": (
        r"bump\w*|lump\w*|pimple\w*|whitehead\w*|zits?|nodul\w*|granuloma\w*|milia",
        r"bult\w*|granos?|granit[oa]s?|bolit[ao]s?|espinilla\w*|barritos?",
        r"puntitos?(?!\s+rojos)|puntos\s+blancos|protuberancia\w*|quistes?",
    ),
}
# Words that make up the "spreading redness" pair above.
RED = r"red|redness|redder|rojez|roj[oa]s?|enrojec\w*|rojiz[oa]s?"
SPREAD = (
    r"spread\w*|growing|grows|bigger|larger|doubled|expand\w*|moving|creep\w*|worse"
    r"|extend\w*|extiend\w*"
    r"|expand\w*|crece\w*|creciendo|mas\s+grande|agrand\w*|peor|empeor\w*"
)

# Sign words inside these phrases are about something else: weather, water, a blood test.
NOT_A_REPORT = (
    r"(?:hot|warm)\s+(?:yoga|pilates|shower|showers|bath|baths|tub|water|drinks?|tea|coffee"
    r"|weather|outside|outdoors|springs?|sauna|class|stones?|towel|compress|packs?|room)",
    r"heat\s+(?:packs?|pads?|wave|lamp|protectant|styling|tools?)|in\s+the\s+heat",
    r"hace\s+(?:mucho\s+|tanto\s+|un\s+)?calor|(?:este|tanto|al|ola\s+de)\s+calor",
    r"calor\s+(?:afuera|fuera|que\s+hace)",
    r"(?:agua|ducha|bano|bebidas?|compresas?|cafe|te|yoga|tina|bolsa)\s+calientes?",
    r"blood\s+(?:tests?|work|pressure|thinners?|sugar|type|donation)",
    r"(?:analisis|prueba|presion)\s+de\s+(?:la\s+)?sangre|donar\s+sangre",
)

# A reply denies or rules out a sign when one of these comes before it in the same clause with
# only FILLERS, other signs and "or" between ("no fever", "sin fiebre ni pus", "I haven't
# noticed any swelling", "how do I prevent infection").
NEGATORS = _words(
    "no not without never none nothing zero neither nor nope dont doesnt didnt isnt arent"
    " wasnt werent havent hasnt hadnt aint stopped better less prevent preventing avoid"
    " avoiding risk chance sin ni nunca jamas ningun ninguna ninguno nada tampoco cero dejo"
    " paro mejor menos evitar evito evita prevenir riesgo"
)
# Any other word between ends the negation, so "can't sleep from the pain", "no para de
# sangrar", "not sure if it's pus", "I don't know if it's infected" alert.
FILLERS = _words(
    "a an the any some much more real really signs sign of at all have has had having feel"
    " feeling felt feels see seeing seen notice noticed noticing get getting got look looks"
    " looking seem seems to be been there my its it further new longer anymore single hint"
    " trace too very so that even actually experiencing experienced whatsoever bit red"
    " redness dry tight tengo tiene tienes tenia tenido tuve he ha hay habia siento sentido"
    " senti noto notado note veo visto vi me te le la el los las lo un una unos unas de del"
    " mas ya senal senales signo signos rastro mucho mucha muchos muchas tanto tanta se ve"
    " sale salido salio parece esta estan nota siente mi mis roja rojo rojez enrojecimiento"
    " seca seco tirante casi in"
)
# "No fever or swelling", "ni fiebre ni hinchazón": a list under one negation.
LIST_WORDS = _words("or o u")
# Words that end a clause as punctuation does: "no fever but the pain is worse".
CLAUSE_WORDS = _words("but though although however pero aunque sino")

# After the sign: it is over or easing ("swelling went down", "el dolor se fue", "pain free").
RESOLVED = (
    r"(?:(?:is|are|was|has|have|had|its|s|already|all|almost|completely|totally|pretty|much"
    r"|a|lot|way|so|now|finally|mostly|getting|got|ya|se|me|le|ha|han|mucho|muy|un|poco"
    r"|bastante|esta|totalmente|casi|bien)\s+){0,4}"
    r"(?:(?:gone|(?:went|going|goes)\s+away|better|improv\w*|subsid\w*|stopped|clear(?:ed|ing|s)?"
    r"|disappear\w*|fading|faded|eased|calmed|settled|less|free"
    r"|(?:(?:went|going|goes|gone|come|came|coming)\s+)?down"
    r"(?!\s+(?:to|my|the|towards|into|onto|past|his|her|your|along|on|over|around))"
    r"|bajo|bajando|ido|fue|quito|quitado|quitando|paro|parado|desaparec\w*|mejor\w*"
    r"|calmo|calmado|menos)\b"
    r"|(?:isnt|is\s+not|not)\s+(?:that|so|too)\s+bad|no\s+es\s+(?:tanto|para\s+tanto|tan\s+fuerte)"
    r"|(?:no|none|nope|nada|cero)\s*$)"
)
# After the sign, in its clause: it is getting worse, which outweighs a "no" before it ("no the
# pain is worse"); anywhere up to the next sign: it is back ("stopped bleeding but started again").
WORSENING = (
    r"worse|worst|worsening|bigger|spreading|still|growing|peor|empeor\w*|todavia|sigue|crece\w*"
)
RETURNING = r"again|started|came\s+back|is\s+back|otra\s+vez|de\s+nuevo|volvio|empezo"
