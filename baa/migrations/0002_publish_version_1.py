"""Publishes version 1 of the Sealpost Business Associate Agreement.

The text lives here, not in a module, so that it can never change under an existing version: a
new text is a new data migration publishing version 2. Its SHA-256 is computed from the exact
text and stored beside it.
"""

import datetime
import hashlib

from django.db import migrations

TITLE = "Sealpost Business Associate Agreement"

TEXT = """SEALPOST BUSINESS ASSOCIATE AGREEMENT (VERSION 1)

This Business Associate Agreement ("Agreement") is entered into between the organisation named in the signature block below ("Covered Entity") and Sealpost ("Business Associate"), the provider of the Sealpost email campaign platform (the "Services"). It takes effect on the Effective Date stated in the signature block and is made to comply with the Health Insurance Portability and Accountability Act of 1996, the HITECH Act, and their implementing regulations at 45 CFR Parts 160 and 164 (together, "HIPAA").

1. DEFINITIONS
Terms used but not defined in this Agreement, including Breach, Designated Record Set, Individual, Protected Health Information ("PHI"), Required By Law, Security Incident, Subcontractor and Unsecured PHI, have the meanings given to them in 45 CFR 160.103, 164.304 and 164.501. PHI in this Agreement means PHI that Business Associate creates, receives, maintains or transmits on behalf of Covered Entity.

2. PERMITTED USES AND DISCLOSURES (45 CFR 164.504(e)(2)(i))
2.1 Business Associate may use and disclose PHI only to perform the Services for Covered Entity: storing contact records, composing, encrypting, escrowing and delivering the email messages Covered Entity instructs it to send, and recording delivery and engagement events, as described in the Services' documentation.
2.2 Business Associate may use PHI for its proper management and administration and to carry out its legal responsibilities, and may disclose PHI for those purposes if the disclosure is Required By Law, or if it obtains reasonable written assurances from the recipient that the PHI will be held confidentially, used or further disclosed only as Required By Law or for the purpose for which it was disclosed, and that the recipient will notify Business Associate of any instance of which it is aware in which the confidentiality of the PHI has been breached.
2.3 Business Associate will not use or disclose PHI in a manner that would violate Subpart E of 45 CFR Part 164 if done by Covered Entity, will make reasonable efforts to limit PHI to the minimum necessary, and will not sell PHI or use it for its own marketing.
2.4 Business Associate may de-identify PHI only as permitted by 45 CFR 164.514(b) and only to provide the Services.

3. SAFEGUARDS (45 CFR 164.504(e)(2)(ii)(A) and (B))
3.1 Business Associate will not use or further disclose PHI other than as permitted or required by this Agreement or as Required By Law.
3.2 Business Associate will use appropriate administrative, physical and technical safeguards, and comply with Subpart C of 45 CFR Part 164 with respect to electronic PHI, to prevent use or disclosure of PHI other than as provided for by this Agreement. These safeguards include encryption of PHI at rest with keys specific to Covered Entity, encryption in transit, phishing-resistant authentication for administrative access, role-based access control, and an append-only, tamper-evident audit log.

4. REPORTING (45 CFR 164.504(e)(2)(ii)(C); 164.410; 164.314(a)(2)(i)(C))
4.1 Business Associate will report to Covered Entity any use or disclosure of PHI not provided for by this Agreement of which it becomes aware, including any Breach of Unsecured PHI as required by 45 CFR 164.410, and any Security Incident of which it becomes aware.
4.2 Breach notifications will be made without unreasonable delay and in no case later than thirty (30) calendar days after discovery, and will include, to the extent possible, the identification of each Individual affected and the other information Covered Entity needs to notify Individuals under 45 CFR 164.404(c).
4.3 The parties agree that this section constitutes notice by Business Associate of the ongoing existence of unsuccessful Security Incidents (such as pings, port scans and refused sign-in attempts) that do not result in unauthorised access to, or use or disclosure of, PHI; no further notice of them is required.

5. SUBCONTRACTORS (45 CFR 164.504(e)(2)(ii)(D); 164.502(e)(1)(ii))
Business Associate will ensure that any Subcontractor that creates, receives, maintains or transmits PHI on its behalf agrees in writing to the same restrictions, conditions and requirements that apply to Business Associate under this Agreement. Business Associate maintains a register of its sub-processors, which Covered Entity can read in the Services, stating for each whether it handles PHI and the status of its business associate agreement.

6. ACCESS, AMENDMENT AND ACCOUNTING (45 CFR 164.504(e)(2)(ii)(E), (F) and (G))
6.1 Access. To the extent Business Associate maintains PHI in a Designated Record Set, it will make that PHI available to Covered Entity, within fifteen (15) days of a request, so that Covered Entity can meet its obligations under 45 CFR 164.524.
6.2 Amendment. To the extent Business Associate maintains PHI in a Designated Record Set, it will make amendments to that PHI as directed by Covered Entity under 45 CFR 164.526.
6.3 Accounting. Business Associate will document disclosures of PHI and make available to Covered Entity, within fifteen (15) days of a request, the information required for Covered Entity to provide an accounting of disclosures under 45 CFR 164.528.
6.4 If an Individual asks Business Associate directly for access, amendment or an accounting, Business Associate will forward the request to Covered Entity within ten (10) days.

7. COVERED ENTITY'S OBLIGATIONS UNDER THE PRIVACY RULE (45 CFR 164.504(e)(2)(ii)(H))
To the extent Business Associate carries out an obligation of Covered Entity under Subpart E of 45 CFR Part 164, it will comply with the requirements of Subpart E that apply to Covered Entity in the performance of that obligation.

8. AVAILABILITY OF BOOKS AND RECORDS (45 CFR 164.504(e)(2)(ii)(I))
Business Associate will make its internal practices, books and records relating to the use and disclosure of PHI available to the Secretary of Health and Human Services for purposes of determining Covered Entity's compliance with HIPAA.

9. TERM AND TERMINATION (45 CFR 164.504(e)(2)(iii))
9.1 Term. This Agreement takes effect on the Effective Date and remains in force until the Expiry Date stated in the signature block, unless terminated earlier under this section or replaced by a later version of this Agreement signed by Covered Entity.
9.2 Termination for breach. If Covered Entity determines that Business Associate has violated a material term of this Agreement, Covered Entity may terminate this Agreement and the Services if Business Associate does not cure the violation within thirty (30) days of written notice, or immediately if cure is not possible. Business Associate has the same right if Covered Entity violates a material term.
9.3 Termination by Covered Entity. Covered Entity may terminate this Agreement at any time from the Services. Without an agreement in force, the Services will not send messages containing PHI on Covered Entity's behalf.
9.4 Return or destruction of PHI (45 CFR 164.504(e)(2)(ii)(J)). At termination or expiry, Business Associate will, if feasible, return to Covered Entity or destroy all PHI it still maintains in any form, including by destroying Covered Entity's encryption keys (crypto-shredding), and will retain no copies. If return or destruction is not feasible, Business Associate will extend the protections of this Agreement to that PHI and limit further uses and disclosures to the purposes that make return or destruction infeasible, for as long as it maintains the PHI.
9.5 Survival. The obligations in section 9.4 survive the termination or expiry of this Agreement.

10. MISCELLANEOUS
10.1 Amendment. The parties will amend this Agreement as necessary to comply with changes in HIPAA. A new version of this Agreement takes effect for Covered Entity only when Covered Entity signs it.
10.2 Interpretation. Any ambiguity in this Agreement will be resolved to permit compliance with HIPAA.
10.3 No third-party beneficiaries. Nothing in this Agreement confers any rights on any person other than the parties.
10.4 Electronic signature. The parties agree that this Agreement may be signed electronically, and that the electronic signatures and the SHA-256 digest of this text recorded in the signature block identify the text they signed.
"""


def publish(apps, schema_editor):
    BaaDocumentVersion = apps.get_model("baa", "BaaDocumentVersion")
    BaaDocumentVersion.objects.create(
        version=1,
        title=TITLE,
        text=TEXT,
        sha256=hashlib.sha256(TEXT.encode("utf-8")).hexdigest(),
        published_at=datetime.datetime(2026, 11, 29, tzinfo=datetime.UTC),
    )


def unpublish(apps, schema_editor):
    BaaDocumentVersion = apps.get_model("baa", "BaaDocumentVersion")
    BaaDocumentVersion.objects.filter(version=1).delete()


class Migration(migrations.Migration):
    dependencies = [("baa", "0001_initial")]

    operations = [migrations.RunPython(publish, unpublish)]
