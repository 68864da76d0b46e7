"""Word pools for the synthetic DLP corpus (see ``encryption.dlp.corpus`` for the labelling rules).

Written independently of the classifier's lexicon: the corpus measures generalisation. Every
organisation, person and number is invented; domains are example.org/.com/.test.
"""

from __future__ import annotations

# (given name, gender) — gender only picks an honorific (F: Ms./Mrs., M: Mr., X: Mx.).
GIVEN_NAMES = [
    ("Priya", "F"), ("Tomás", "M"), ("Amara", "F"), ("Wei", "M"), ("Olga", "F"), ("Kwame", "M"),
    ("Siobhán", "F"), ("Mateo", "M"), ("Fatima", "F"), ("Hiroshi", "M"), ("Aroha", "F"), ("Dmitri", "M"),
    ("Nguyen", "F"), ("Jamal", "M"), ("Ingrid", "F"), ("Rahul", "M"), ("Chloé", "F"), ("Oluwaseun", "M"),
    ("Mary-Kate", "F"), ("Jean-Luc", "M"), ("Yusuf", "M"), ("Leilani", "F"), ("Bogdan", "M"), ("Ximena", "F"),
    ("Jennifer", "F"), ("Michael", "M"), ("Linda", "F"), ("David", "M"), ("Patricia", "F"), ("James", "M"),
    ("Susan", "F"), ("Robert", "M"), ("Karen", "F"), ("William", "M"), ("Emily", "F"), ("Joshua", "M"),
    ("Ashley", "F"), ("Brandon", "M"), ("Maria", "F"), ("José", "M"), ("Guadalupe", "F"), ("Luis", "M"),
    ("Mei", "F"), ("Jun", "X"), ("Sasha", "X"), ("Riley", "X"), ("Jordan", "X"), ("Avery", "X"),
    ("Zainab", "F"), ("Tariq", "M"), ("Esperanza", "F"), ("Gustavo", "M"), ("Anh", "F"), ("Minh", "M"),
    ("Ngozi", "F"), ("Chidi", "M"), ("Astrid", "F"), ("Lars", "M"), ("Ayesha", "F"), ("Imran", "M"),
    ("Dolores", "F"), ("Earl", "M"), ("Beatriz", "F"), ("Rafael", "M"), ("Keiko", "F"), ("Kenji", "M"),
    ("Tamar", "F"), ("Eli", "M"), ("Noor", "F"), ("Omar", "M"), ("Svetlana", "F"), ("Pavel", "M"),
    ("Grace", "F"), ("Henry", "M"), ("Hope", "F"), ("Frank", "M"), ("Joy", "F"), ("Bill", "M"),
]  # fmt: skip

FAMILY_NAMES = [
    "Okafor", "Rivera", "Raman", "Chen", "Kowalski", "Mensah", "O'Neill", "García-López", "Al-Sayed",
    "Tanaka", "Ngata", "Volkov", "Tran", "Washington", "Lindqvist", "Patel", "Dubois", "Adeyemi",
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Martinez", "Hernández",
    "Nguyen", "Kim", "Park", "Singh", "Cohen", "Murphy", "Baker", "Rossi", "Müller", "Schmidt",
    "de la Cruz", "van der Berg", "von Hagen", "Mac Giolla", "D'Angelo", "St. John", "Ó Briain",
    "Abdullah", "Haddad", "Kaur", "Banerjee", "Oyelaran", "Achterberg", "Nakamura", "Yilmaz",
    "Petrov", "Kuznetsova", "Delgado", "Moreau", "Fitzgerald", "Acheampong", "Bianchi", "Ferreira",
    "Santos", "Lopez", "Walker", "Young", "King", "Wright", "Hill", "Green", "Stone", "Marsh",
    "Fox", "Bell", "Hope", "Rose", "Wolf", "Brook", "Nash", "Price", "Day",
]  # fmt: skip

# Family names that are also everyday words ("Price", "Day", "Hope"...) make hard cases; they are
# still names when they name a person.

CLINICIAN_SUFFIXES = ["MD", "DO", "NP", "PA-C", "RN", "DNP", "PharmD", "DDS", "LCSW", "PhD"]

# (name, domain, kind) kind: clinic, hospital, pharmacy, plan, supplier, lab, telehealth
ORGS = [
    ("Riverbend Family Medicine", "riverbend.example.org", "clinic"),
    ("Northgate Cardiology Associates", "northgate-cardio.example.com", "clinic"),
    ("Lakeside Pediatrics", "lakesidepeds.example.org", "clinic"),
    ("Bayside Women's Health", "baysidewh.example.org", "clinic"),
    ("Pinecrest Behavioral Health", "pinecrest-bh.example.org", "clinic"),
    ("Willow Creek Dermatology", "willowcreekderm.example.com", "clinic"),
    ("Oakridge Medical Group", "oakridgemg.example.org", "clinic"),
    ("Crescent Community Health Center", "crescent-chc.example.org", "clinic"),
    ("Evergreen Oncology Partners", "evergreenonc.example.com", "clinic"),
    ("Granite Peak Orthopedics", "granitepeakortho.example.com", "clinic"),
    ("St. Brigid Regional Hospital", "stbrigid.example.org", "hospital"),
    ("Mercy Valley Medical Center", "mercyvalley.example.org", "hospital"),
    ("Meridian Imaging Center", "meridianimaging.example.com", "clinic"),
    ("CedarCare Pharmacy", "cedarcare.example.com", "pharmacy"),
    ("Corner Apothecary", "cornerapothecary.example.com", "pharmacy"),
    ("Harborview Health Plan", "harborviewplan.example.com", "plan"),
    ("Blue Heron Health Plan", "blueheron.example.com", "plan"),
    ("Summit Sleep Supply", "summitsleep.example.com", "supplier"),
    ("Steadfast Medical Devices", "steadfastmed.example.com", "supplier"),
    ("ClearPath Labs", "clearpathlabs.example.com", "lab"),
    ("BrightLine Telehealth", "brightline.example.test", "telehealth"),
]

STREETS = [
    "Main Street", "Oak Avenue", "Elm St", "Maple Dr.", "Cedar Lane", "Lakeview Rd", "Pine Street",
    "Martin Luther King Jr. Blvd", "Avenida del Sol", "Washington Ave", "Jefferson St.", "Park Place",
    "Riverside Drive", "Sunset Blvd", "Hillcrest Ct", "Orchard Way", "Harbor Rd.", "Church Street",
    "Chestnut St", "Willow Bend", "County Road 12", "Old Mill Road", "Kingsley Terrace", "Via Verde",
    "N. Lincoln Ave", "SE 42nd Street", "W 3rd St", "Rue Royale", "Peachtree Ln", "Sycamore Cir",
]  # fmt: skip

UNITS = ["Apt 4B", "Apt. 12", "Unit 305", "#7", "Suite 210", "Ste 1100", "Fl 3", "Apartment 2C", "Bldg C, Unit 14"]

# (city, state, five-digit ZIP)
CITIES = [
    ("Springfield", "IL", "62704"), ("Portland", "OR", "97205"), ("Austin", "TX", "78701"),
    ("Columbus", "OH", "43215"), ("Madison", "WI", "53703"), ("Burlington", "VT", "05401"),
    ("Albuquerque", "NM", "87102"), ("Savannah", "GA", "31401"), ("Tacoma", "WA", "98402"),
    ("Providence", "RI", "02903"), ("Boise", "ID", "83702"), ("Durham", "NC", "27701"),
    ("Fresno", "CA", "93721"), ("Lansing", "MI", "48933"), ("Omaha", "NE", "68102"),
    ("Newark", "NJ", "07102"), ("Tucson", "AZ", "85701"), ("Richmond", "VA", "23219"),
    ("St. Paul", "MN", "55102"), ("Hilo", "HI", "96720"),
]  # fmt: skip

# (term, ICD-10 code)
CONDITIONS = [
    ("type 2 diabetes", "E11.9"), ("hypertension", "I10"), ("asthma", "J45.909"),
    ("major depressive disorder", "F32.9"), ("generalized anxiety disorder", "F41.1"), ("hypothyroidism", "E03.9"),
    ("atrial fibrillation", "I48.91"), ("COPD", "J44.9"), ("chronic kidney disease, stage 3", "N18.30"),
    ("migraine", "G43.909"), ("rheumatoid arthritis", "M06.9"), ("Crohn's disease", "K50.90"),
    ("ulcerative colitis", "K51.90"), ("psoriasis", "L40.0"), ("obstructive sleep apnea", "G47.33"),
    ("gout", "M10.9"), ("osteoporosis", "M81.0"), ("hyperlipidemia", "E78.5"), ("celiac disease", "K90.0"),
    ("multiple sclerosis", "G35"), ("Parkinson's disease", "G20"), ("epilepsy", "G40.909"),
    ("HIV infection", "B20"), ("chronic hepatitis C", "B18.2"), ("breast cancer", "C50.919"),
    ("prostate cancer", "C61"), ("Hodgkin lymphoma", "C81.90"), ("sickle cell disease", "D57.1"),
    ("cystic fibrosis", "E84.9"), ("Huntington's disease", "G10"), ("myasthenia gravis", "G70.00"),
    ("sarcoidosis", "D86.9"), ("Ehlers-Danlos syndrome", "Q79.6"), ("ALS", "G12.21"),
    ("Addison's disease", "E27.1"), ("gestational diabetes", "O24.419"), ("opioid use disorder", "F11.20"),
    ("alcohol use disorder", "F10.20"), ("bipolar I disorder", "F31.9"), ("schizophrenia", "F20.9"),
    ("ADHD", "F90.9"), ("PTSD", "F43.10"), ("anorexia nervosa", "F50.00"), ("heart failure", "I50.9"),
    ("coronary artery disease", "I25.10"), ("strep throat", "J02.0"), ("influenza", "J11.1"),
    ("COVID-19", "U07.1"), ("Lyme disease", "A69.20"), ("shingles", "B02.9"), ("pneumonia", "J18.9"),
    ("urinary tract infection", "N39.0"), ("iron deficiency anemia", "D50.9"), ("GERD", "K21.9"),
    ("kidney stones", "N20.0"), ("plantar fasciitis", "M72.2"), ("concussion", "S06.0X0A"),
    ("systemic lupus erythematosus", "M32.9"), ("fibromyalgia", "M79.7"), ("glaucoma", "H40.9"),
    ("age-related macular degeneration", "H35.30"), ("eczema", "L30.9"), ("chlamydia", "A56.9"),
    ("prediabetes", "R73.03"), ("obesity", "E66.9"), ("melanoma", "C43.9"), ("Graves' disease", "E05.00"),
    ("Tourette syndrome", "F95.2"), ("pulmonary embolism", "I26.99"), ("hereditary angioedema", "D84.1"),
    ("Gaucher disease", "E75.22"), ("postpartum depression", "F53.0"), ("torn meniscus", "S83.209A"),
]  # fmt: skip

# (drug, strengths): brand and generic names; a strength is written right after the name.
MEDICATIONS = [
    ("metformin", ["500 mg", "850 mg", "1000 mg"]), ("lisinopril", ["10 mg", "20 mg"]),
    ("atorvastatin", ["20 mg", "40 mg"]), ("levothyroxine", ["50 mcg", "75 mcg", "100 mcg"]),
    ("sertraline", ["50 mg", "100 mg"]), ("amlodipine", ["5 mg", "10 mg"]), ("Ozempic", ["0.5 mg", "1 mg"]),
    ("Jardiance", ["10 mg", "25 mg"]), ("Eliquis", ["5 mg", "2.5 mg"]), ("albuterol HFA", ["90 mcg"]),
    ("Humira", ["40 mg"]), ("insulin glargine", ["100 units/mL"]), ("Lantus SoloStar", ["100 units/mL"]),
    ("omeprazole", ["20 mg", "40 mg"]), ("gabapentin", ["300 mg", "600 mg"]), ("prednisone", ["10 mg", "20 mg"]),
    ("amoxicillin", ["500 mg", "875 mg"]), ("azithromycin", ["250 mg"]), ("Paxlovid", [""]),
    ("Adderall XR", ["20 mg"]), ("buprenorphine-naloxone", ["8 mg/2 mg"]), ("Suboxone", ["8 mg/2 mg"]),
    ("hydrocodone-acetaminophen", ["5-325 mg"]), ("Xarelto", ["20 mg"]), ("warfarin", ["5 mg"]),
    ("methotrexate", ["2.5 mg"]), ("Biktarvy", [""]), ("Truvada", [""]), ("Dupixent", ["300 mg"]),
    ("Trikafta", [""]), ("lithium carbonate", ["300 mg"]), ("quetiapine", ["100 mg"]), ("fluoxetine", ["20 mg"]),
    ("escitalopram", ["10 mg"]), ("Wegovy", ["2.4 mg"]), ("tamoxifen", ["20 mg"]), ("montelukast", ["10 mg"]),
    ("EpiPen", ["0.3 mg"]), ("Synthroid", ["88 mcg"]), ("losartan", ["50 mg", "100 mg"]),
    ("hydrochlorothiazide", ["25 mg"]), ("Entresto", ["49/51 mg"]), ("naltrexone", ["50 mg"]),
    ("sumatriptan", ["50 mg"]), ("Aimovig", ["70 mg"]), ("Keytruda", [""]), ("Vyvanse", ["30 mg"]),
    ("clopidogrel", ["75 mg"]), ("Spiriva Respimat", ["2.5 mcg"]), ("estradiol", ["1 mg"]),
    ("Mounjaro", ["5 mg"]), ("valacyclovir", ["1 g"]), ("Narcan nasal spray", ["4 mg"]),
]  # fmt: skip

PROCEDURES = [
    "colonoscopy", "upper endoscopy", "MRI of the left knee", "CT scan of the abdomen and pelvis",
    "screening mammogram", "flu vaccination", "COVID-19 booster", "Tdap vaccine", "Shingrix vaccination",
    "echocardiogram", "cardiac stress test", "total knee replacement", "cataract surgery",
    "physical therapy evaluation", "overnight sleep study", "colposcopy", "skin biopsy", "allergy testing",
    "DEXA bone density scan", "lipid panel", "hemoglobin A1c test", "chest X-ray", "ultrasound of the right shoulder",
    "arthroscopy of the right knee", "tonsillectomy", "hemodialysis", "chemotherapy infusion", "radiation therapy",
    "cardiac catheterization", "Pap smear", "prostate biopsy", "inguinal hernia repair",
    "laparoscopic cholecystectomy", "carpal tunnel release", "lumbar epidural steroid injection",
    "hearing evaluation", "diabetic retinal exam", "Holter monitor study", "lumbar puncture", "IVF consultation",
    "wisdom tooth extraction", "spirometry", "MRI of the brain with contrast", "infusion of IV iron",
    "TB skin test", "HPV vaccination", "ablation for atrial fibrillation", "nerve conduction study",
]  # fmt: skip

# (analyte, unit, low, high, decimals)
LAB_ANALYTES = [
    ("HbA1c", "%", 5.4, 10.5, 1), ("LDL", "mg/dL", 70, 210, 0), ("LDL cholesterol", "mg/dL", 70, 210, 0),
    ("TSH", "mIU/L", 0.2, 9.5, 1), ("eGFR", "mL/min/1.73m2", 28, 95, 0), ("hemoglobin", "g/dL", 8.5, 16.5, 1),
    ("potassium", "mmol/L", 3.1, 5.9, 1), ("fasting glucose", "mg/dL", 82, 240, 0), ("vitamin D", "ng/mL", 9, 60, 0),
    ("PSA", "ng/mL", 0.4, 9.8, 1), ("creatinine", "mg/dL", 0.6, 2.4, 2), ("ALT", "U/L", 12, 140, 0),
    ("ferritin", "ng/mL", 6, 300, 0), ("INR", "", 0.9, 4.2, 1), ("total cholesterol", "mg/dL", 140, 290, 0),
    ("triglycerides", "mg/dL", 60, 480, 0), ("white blood cell count", "K/uL", 2.9, 15.8, 1),
    ("viral load", "copies/mL", 20, 900, 0), ("B12", "pg/mL", 150, 900, 0), ("sodium", "mmol/L", 128, 146, 0),
]  # fmt: skip

# Whole qualitative results, labelled as written.
LAB_QUALITATIVE = [
    "negative for strep", "positive for influenza A", "COVID-19 PCR: not detected", "rapid strep test was positive",
    "urine culture positive for E. coli", "HPV high-risk types not detected", "hepatitis C antibody reactive",
    "Pap smear showed ASC-US", "pregnancy test positive", "chlamydia NAAT negative",
    "HIV-1/2 antigen/antibody nonreactive", "blood cultures no growth at 5 days",
    "TB skin test negative (0 mm induration)", "stool test positive for C. difficile",
    "biopsy showed benign tissue", "Lyme antibody positive on Western blot",
]  # fmt: skip

SPECIALTIES = ["Cardiology", "Family Medicine", "Dermatology", "Orthopedics", "Oncology", "Pediatrics",
               "Behavioral Health", "Endocrinology", "Neurology", "OB/GYN", "Gastroenterology",
               "Pulmonology"]  # fmt: skip

# ---- Hard negatives: nothing here is labelled ----

COUPON_CODES = ["SAVE20", "WELLNESS15", "SPRING10", "FREESHIP", "HEALTHY25", "NEWYOU30", "GIFT5OFF", "TEAM2027"]

EDUCATION = [
    "Flu shots are available at all of our locations for everyone 6 months and older. No appointment is needed.",
    "Adults aged 45 and older should talk with their doctor about colorectal cancer screening, such as a colonoscopy"
    " or a stool-based test.",
    "About one in three adults has high blood pressure, and many do not know it. A home blood pressure cuff and a"
    " quick check at your next visit can help.",
    "November is Diabetes Awareness Month. For most adults with diabetes, an A1c below 7% is a common goal; ask your"
    " care team what is right for you.",
    "Seasonal allergies? Over-the-counter antihistamines such as loratadine can help, but check with a pharmacist if"
    " you"
    " take other medicines.",
    "Shingles can be painful. The shingles vaccine is recommended for adults 50 and older, in two doses 2 to 6 months"
    " apart.",
    "Depression is common and treatable. If you have felt down or hopeless for more than two weeks, reach out to your"
    " care team or a mental health professional.",
    "Sun safety: use a broad-spectrum sunscreen of SPF 30 or higher and check your skin monthly for new or changing"
    " moles, an early sign of melanoma.",
    "Walking 30 minutes a day, five days a week, lowers the risk of heart disease, stroke and type 2 diabetes.",
    "Women aged 40 to 74 should talk with their clinician about how often to have a screening mammogram.",
    "Antibiotics do not work on viruses such as the common cold or influenza. Rest, fluids and time usually help.",
    "Keep a current list of your medicines, including vitamins and supplements, and bring it to every visit.",
    "Asthma flare-ups often rise in the fall. Make sure your inhaler has not expired and that you know your action"
    " plan.",
    "Getting 7 to 9 hours of sleep helps your immune system. Snoring with pauses in breathing can be a sign of sleep"
    " apnea, which is treatable.",
    "LDL cholesterol under 100 mg/dL is a typical target for many adults; diet, exercise and sometimes statins help.",
    "Hand washing for 20 seconds is one of the best ways to prevent the spread of norovirus and other stomach bugs.",
]

PRODUCTS = [
    ("digital thermometer", "$12.99"), ("blood pressure monitor", "$49.95"), ("reusable water bottle", "$18.00"),
    ("first-aid kit", "$24.50"), ("pill organizer", "$7.99"), ("yoga mat", "$29.00"), ("SPF 50 sunscreen", "$11.25"),
    ("heating pad", "$34.99"), ("step counter", "$39.00"), ("compression socks", "$16.75"),
]  # fmt: skip

APP_VERSIONS = ["4.12.3", "5.0.1", "3.9.14", "6.2.0", "2.18.7"]

# Paragraphs that pad real emails; "{org}" is the sender, "{code}" a coupon, "{version}" an app version.
BOILERPLATE = [
    "Parking: the garage on the corner offers validated parking for up to 3 hours. Bring your ticket to the front"
    " desk.",
    "Visitors: each patient may bring up to two adult visitors. Children under 12 must be supervised at all times.",
    "Masks are optional in waiting areas but required in the infusion suite and for anyone with a cough or fever.",
    "Save time with the {org} app (version {version}): check in, pay bills and message your care team from your phone.",
    "We accept most major insurance plans. Self-pay patients receive a 20% prompt-pay discount.",
    "Price transparency: a standard office visit is $145 and a telehealth visit is $89. Estimates are available on"
    " request.",
    "Interpreter services are free of charge. Ask at the front desk or tell us when you book.",
    "{org} complies with applicable federal civil rights laws and does not discriminate on the basis of race, color,"
    " national origin, age, disability or sex.",
    "Refer a friend and you both get a $10 gift card. Use code {code} when booking online.",
    "Our lobby café is open 7 AM – 3 PM; try the new smoothie menu (12 oz for $4.50).",
    "In an emergency, call 911 or go to the nearest emergency room. Do not use email for urgent medical needs.",
    "Reference ranges can differ between laboratories, and a single result outside the range is not always a concern.",
    "Our new walk-in clinic on the 2nd floor is open weekdays from 8 AM to 8 PM, with an average wait of 15 minutes.",
    "We have upgraded our phone system. Wait times are now under 4 minutes for 90% of calls.",
    "Thank you for choosing {org}. We were rated 4.8 out of 5 by 1,200 patients in 2026.",
    "New patients: complete your registration online before your first visit to save about 15 minutes at check-in.",
    "Our main campus pharmacy now offers curbside pickup from 9 AM to 6 PM, with an average wait of 4 minutes.",
    "We are a tobacco-free campus. Free quit-smoking support is available to everyone, patients or not.",
    "Billing questions? Our financial counselors are available Monday to Friday, 8:30 AM to 4:30 PM.",
    "Upcoming classes: Diabetes Self-Management (4 weeks, $0), Childbirth Basics (6 weeks, $60) and CPR for Families"
    " ($25). Seats are limited to 12 per class.",
    "Telehealth visits are available for many common problems, such as colds, rashes and medication questions.",
    "Our urgent care is open 365 days a year, 8 AM to 10 PM. Average wait this month: 22 minutes.",
    "Ask about our sliding-fee scale: discounts of 25% to 100% based on household size and income.",
    "Free Wi-Fi is available in all waiting rooms; the network is called Guest and needs no password.",
    "Need a ride? Many Medicaid plans cover non-emergency medical transportation at no cost to members.",
    "{org} was named one of the top 100 places to work in healthcare for the third year in a row.",
]
