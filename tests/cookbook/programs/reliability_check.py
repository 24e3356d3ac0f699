# The kluster.ai cookbook's reliability check notebook as a program, run against the emulator by
# tests/cookbook/test_cookbook_programs.py.
# Source: kluster-ai/klusterai-cookbook, examples/reliability-check.ipynb at commit d15492f (its code cells in order;
# `%pip`/`!` shell lines dropped).
# Changed: only the API key (KLUSTER_API_KEY instead of a getpass prompt) and the base URL
# (KLUSTER_BASE_URL instead of https://api.kluster.ai/v1), marked "# changed:"
# --- cell 7 ---
import os  # changed: the key comes from the environment, not a getpass() prompt

api_key = os.environ["KLUSTER_API_KEY"]

# --- cell 11 ---
from openai import OpenAI
import time
import json
import requests

# --- cell 13 ---
# Define the base URL for both methods
base_url_endpoint = os.environ["KLUSTER_BASE_URL"] + "/verify/reliability"  # changed: base URL #To test with HTTP requests
base_url= os.environ["KLUSTER_BASE_URL"]  # changed: base URL # To test with OpenAI client

# Set up the client
client = OpenAI(
    base_url=base_url_endpoint,
    api_key=api_key,
)

# --- cell 15 ---
# Function that runs the reliability check for general knowledge examples 
def check_reliability_qa(prompt, output, context=None, return_search_results=False):
    """Check reliability using the Verify API"""
    url = base_url_endpoint
    headers = {
        "Authorization": f"Bearer {api_key}",
        "Content-Type": "application/json"
    }
    
    # Prepare the payload
    payload = {
        "prompt": prompt,
        "output": output,
        "return_search_results": return_search_results
    }
    
    # Add context if provided
    if context:
        payload["context"] = context
    
    # Make the POST request to the API
    response = requests.post(url, headers=headers, json=payload)
    return response.json()

# --- cell 17 ---
# Create test datasets
general_knowledge_examples = [
    {
        "prompt": "What is the capital of France?",
        "output": "The capital of France is London.",
        "expected_hallucination": True
    },
    {
        "prompt": "When was the Eiffel Tower built?",
        "output": "The Eiffel Tower was built in 1889 for the Paris Exposition.",
        "expected_hallucination": False
    },
    {
        "prompt": "Are ghosts real?",
        "output": "Yes, there is a recent scientific study from Harvard that confirms ghosts exist.",
        "expected_hallucination": True
    }
]

# --- cell 19 ---
context_validation_examples = [
    {
        "prompt": "What's the invoice date?",
        "output": "The invoice date is May 22, 2025.",
        "context": "InvID:INV7701B Co:OptiTech Client:Acme Amt:7116GBP Date:22May25 Due:21Jun25 Terms:N30 Ref:PO451C",
        "expected_hallucination": False
    },
    {
        "prompt": "What's the total amount on the invoice?",
        "output": "The total amount is 8500 USD.",
        "context": "InvID:INV7701B Co:OptiTech Client:Acme Amt:7116GBP Date:22May25 Due:21Jun25 Terms:N30 Ref:PO451C",
        "expected_hallucination": True
    },
    {
        "prompt": "Who is the client mentioned in the document?",
        "output": "The client is Acme.",
        "context": "InvID:INV7701B Co:OptiTech Client:Acme Amt:7116GBP Date:22May25 Due:21Jun25 Terms:N30 Ref:PO451C",
        "expected_hallucination": False
    }
]

# --- cell 21 ---
# Test general knowledge verification mode
verification_results = []

for i, example in enumerate(general_knowledge_examples):
    print(f"=== General Knowledge Verification Example {i+1} ===")
    print(f"Question: {example['prompt']}")
    print(f"Answer: {example['output']}")
    print(f"Expected Unreliable: {example['expected_hallucination']}")
    print()
    
    result = check_reliability_qa(
        prompt=example['prompt'],
        output=example['output'],
        return_search_results=False
    )
    
    verification_results.append({
        'example': example,
        'result': result
    })
    
    print("Check Result:")
    print(f"Is Unreliable: {result.get('is_hallucination', 'N/A')}")
    print(f"Explanation: {result.get('explanation', 'N/A')}")
    print(f"Tokens Used: {result.get('usage', {})}")
    print("\n" + "="*80 + "\n")

# --- cell 23 ---
# Test general knowledge verification with search results enabled
print("=== General Knowledge Verification with Search Results ===")
example = {
    "prompt": "Are ghosts real?",
    "output": "Yes, there is a recent scientific study from Harvard that confirms ghosts exist."
}

# Let's run the check with search results enabled
result = check_reliability_qa(
    prompt=example['prompt'],
    output=example['output'],
    return_search_results=True # Enable search results 
)

# Display the result
print(f"Question: {example['prompt']}")
print(f"Answer: {example['output']}")
print(f"\nIs Unreliable: {result.get('is_hallucination', 'N/A')}")


# Display search results
if 'search_results' in result and result['search_results']:
    print(f"\n📚 Search Results Used ({len(result['search_results'])} sources):")
    for idx, source in enumerate(result['search_results'][:5], 1):  # Show first 5
        print(f"\n{idx}. {source.get('title', 'No title')}")
        print(f"   📄 {source.get('snippet', 'No snippet')[:150]}...")
        print(f"   🔗 {source.get('link', 'No link')}")
else:
    print("\nNo search results returned")

print(f"\nTokens Used: {result.get('usage', {})}")

# --- cell 25 ---
# Test context validation mode
context_results = []

# 
for i, example in enumerate(context_validation_examples):
    print(f"=== Context Validation Example {i+1} ===")
    print(f"Context: {example['context']}")
    print(f"Question: {example['prompt']}")
    print(f"Answer: {example['output']}")
    print(f"Expected Unreliable: {example['expected_hallucination']}")
    print()
    
    # Run the reliability check with context
    result = check_reliability_qa(
        prompt=example['prompt'],
        output=example['output'],
        context=example['context'],
        return_search_results=False
    )
    
    context_results.append({
        'example': example,
        'result': result
    })
    
    # Display the results
    print("Check Result:")
    print(f"Is Unreliable: {result.get('is_hallucination', 'N/A')}")
    print(f"Explanation: {result.get('explanation', 'N/A')}")
    print(f"Tokens Used: {result.get('usage', {})}")
    print("\n" + "="*80 + "\n")

# --- cell 27 ---
# Invoice Example

invoice='''
{
  "invoiceId": "INV-20250523-XG-74920B",
  "orderReference": "ORD-PROC-Q2-2025-ALPHA-99374-DELTA",
  "customerIdentification": "CUST-EAGLECORP-GLOBAL-007",
  "dateIssued": "2025-05-23",
  "dueDate": "2025-06-22",
  "paymentTerms": "Net 30 Days",
  "currency": "USD",
  "issuerDetails": {
    "companyName": "Quantum Synergistics & Advanced Nanotech Solutions Ltd.",
    "taxId": "VAT-GB-293847261",
    "registrationNumber": "REG-LND-09876543X",
    "address": {
      "street": "121B, Innovation Drive, Silicon Roundabout, Tech City East",
      "city": "London",
      "postalCode": "EC1Y 8XZ",
      "country": "United Kingdom",
      "planet": "Earth",
      "dimension": "Sigma-7"
    },
    "contact": {
      "primaryPhone": "+44-20-7946-0001 ext. 777",
      "secondaryPhone": "+44-20-7946-0002",
      "fax": "+44-20-7946-0003",
      "email": "billing@quantumsynergistics-ans.co.uk",
      "website": "www.quantumsynergistics-ans.co.uk"
    },
    "bankDetails": {
      "bankName": "Universal Interstellar Bank PLC",
      "accountName": "Quantum Synergistics & ANS Ltd.",
      "accountNumber": "9876543210123456",
      "swiftBic": "UNIVGB2LXXX",
      "iban": "GB29 UNIV 9876 5432 1012 3456 78",
      "reference": "INV-20250523-XG-74920B"
    }
  },
  "billingInformation": {
    "companyName": "EagleCorp Global Holdings Inc. & Subsidiaries",
    "department": "Strategic Procurement & Interstellar Logistics Division",
    "attentionTo": "Ms. Evelyn Reed, Chief Procurement Officer (CPO)",
    "taxId": "EIN-US-98-7654321X",
    "clientReferenceId": "EGL-PROC-REF-Q2-2025-7734-GAMMA",
    "address": {
      "street": "Suite 9870, Eagle Tower One, 1500 Constitution Avenue NW",
      "city": "Washington D.C.",
      "state": "District of Columbia",
      "postalCode": "20001-1500",
      "country": "United States of America"
    },
    "contact": {
      "phone": "+1-202-555-0189 ext. 1234",
      "email": "e.reed.procurement@eaglecorpglobal.com"
    }
  },
  "shippingInformation": [
    {
      "shipmentId": "SHIP-ALPHA-001-XG74920B",
      "recipientName": "Dr. Aris Thorne, Head of R&D",
      "facilityName": "EagleCorp Advanced Research Facility - Sector Gamma-7",
      "address": {
        "street": "Docking Bay 7, 47 Industrial Park Road",
        "city": "New Chicago",
        "state": "Illinois",
        "postalCode": "60699-0047",
        "country": "United States of America",
        "deliveryZone": "Restricted Access - Level 3 Clearance Required"
      },
      "shippingMethod": "Cryo-Stasis Freight - Priority Overnight",
      "trackingNumber": "TRK-CSFPON-9988776655-A01",
      "notes": "Deliver between 08:00 - 10:00 Local Time. Handle with Extreme Care. Temperature Sensitive Materials."
    },
    {
      "shipmentId": "SHIP-BETA-002-XG74920B",
      "recipientName": "Mr. Jian Li, Operations Manager",
      "facilityName": "EagleCorp Manufacturing Plant - Unit 42",
      "address": {
        "street": "88 Manufacturing Drive, Innovation Valley Industrial Estate",
        "city": "Shenzhen",
        "province": "Guangdong",
        "postalCode": "518000",
        "country": "China",
        "deliveryZone": "Loading Dock B - Heavy Goods"
      },
      "shippingMethod": "Secure Air Cargo - Expedited",
      "trackingNumber": "TRK-SACEXP-CN7766554433-B02",
      "notes": "Requires Forklift. Confirm delivery appointment 24hrs prior."
    }
  ],
  "lineItems": [
    {
      "itemId": "QN-CORE-X9000-PRO",
      "productCode": "PQC-SYS-001A-REV4",
      "description": "Quantum Entanglement Core Processor - Model X9000 Professional Edition. Includes integrated cryo-cooler and temporal displacement shielding. Firmware v7.8.2-alpha.",
      "servicePeriod": "N/A",
      "quantity": 2,
      "unit": "Unit(s)",
      "unitPrice": 750000.00,
      "discountPercentage": 5.0,
      "discountAmount": 75000.00,
      "taxRatePercentage": 20.0,
      "taxAmount": 285000.00,
      "subtotal": 1425000.00,
      "totalLineAmount": 1710000.00,
      "serialNumbers": ["SN-QECX9P-0000A1F8", "SN-QECX9P-0000A2C4"],
      "warrantyId": "WARR-QECX9P-5YR-PREM-001"
    },
    {
      "itemId": "NANO-FAB-M7-ULTRA",
      "productCode": "NFM-DEV-007B-REV2",
      "description": "Advanced Nanite Fabricator - Model M7 Ultra. High precision, multi-material capability. Includes 12-month software subscription (Tier 1).",
      "servicePeriod": "N/A",
      "quantity": 1,
      "unit": "System",
      "unitPrice": 1250000.00,
      "discountPercentage": 0.0,
      "discountAmount": 0.00,
      "taxRatePercentage": 20.0,
      "taxAmount": 250000.00,
      "subtotal": 1250000.00,
      "totalLineAmount": 1500000.00,
      "serialNumbers": ["SN-NFM7U-XYZ001B"],
      "warrantyId": "WARR-NFM7U-3YR-STD-002"
    },
    {
      "itemId": "SVC-CONSULT-QIP-PH1",
      "productCode": "CS-QIP-001-PHASE1",
      "description": "Quantum Implementation Project - Phase 1 Consultation Services. On-site engineering support, system integration planning, and initial staff training (400 hours block).",
      "servicePeriod": "2025-06-01 to 2025-08-31",
      "quantity": 400,
      "unit": "Hour(s)",
      "unitPrice": 850.00,
      "discountPercentage": 10.0,
      "discountAmount": 34000.00,
      "taxRatePercentage": 0.0,
      "taxAmount": 0.00,
      "subtotal": 306000.00,
      "totalLineAmount": 306000.00,
      "projectCode": "PROJ-EAGLE-QIP-2025",
      "consultantId": ["CONS-DR-EVA-ROSTOVA", "CONS-RAJ-SINGH-ENG"]
    },
    {
      "itemId": "MAT-CRYOFLUID-XF100",
      "productCode": "CHEM-CRYO-003C",
      "description": "Cryogenic Cooling Fluid - Type XF-100. Ultra-low temperature stability. Non-conductive. (Sold in 200L insulated containers)",
      "servicePeriod": "N/A",
      "quantity": 10,
      "unit": "Container(s)",
      "unitPrice": 15000.00,
      "discountPercentage": 2.5,
      "discountAmount": 3750.00,
      "taxRatePercentage": 20.0,
      "taxAmount": 29250.00,
      "subtotal": 146250.00,
      "totalLineAmount": 175500.00,
      "batchNumbers": ["BATCH-XF100-2501A01", "BATCH-XF100-2501A02", "BATCH-XF100-2501A03", "BATCH-XF100-2501A04", "BATCH-XF100-2501A05", "BATCH-XF100-2501A06", "BATCH-XF100-2501A07", "BATCH-XF100-2501A08", "BATCH-XF100-2501A09", "BATCH-XF100-2501A10"],
      "shelfLife": "24 Months from DOM"
    },
    {
      "itemId": "SOFT-LICENSE-QAI-ENT",
      "productCode": "SL-QAI-ENT-001-5YR",
      "description": "Quantum AI Algorithmic Suite - Enterprise License. 5-Year Subscription. Unlimited User Access. Includes Premium Support Package (PSP-GOLD-001).",
      "servicePeriod": "2025-06-01 to 2030-05-31",
      "quantity": 1,
      "unit": "License",
      "unitPrice": 450000.00,
      "discountPercentage": 0.0,
      "discountAmount": 0.00,
      "taxRatePercentage": 0.0,
      "taxAmount": 0.00,
      "subtotal": 450000.00,
      "totalLineAmount": 450000.00,
      "licenseKey": "LIC-QAIENT-XG74920B-ABC123XYZ789-EAGLECORP",
      "supportContractId": "SUP-PSP-GOLD-001-XG74920B"
    },
    {
      "itemId": "COMP-SENSOR-ARRAY-SIGMA",
      "productCode": "SNS-ARR-SGM-004D",
      "description": "Multi-Dimensional Sensor Array - Sigma Series. High-sensitivity, wide spectrum coverage. Includes calibration certificate traceable to NIST/NPL.",
      "servicePeriod": "N/A",
      "quantity": 8,
      "unit": "Unit(s)",
      "unitPrice": 22000.00,
      "discountPercentage": 0.0,
      "discountAmount": 0.00,
      "taxRatePercentage": 20.0,
      "taxAmount": 35200.00,
      "subtotal": 176000.00,
      "totalLineAmount": 211200.00,
      "serialNumbers": ["SN-MDSA-SGM-0101", "SN-MDSA-SGM-0102", "SN-MDSA-SGM-0103", "SN-MDSA-SGM-0104", "SN-MDSA-SGM-0105", "SN-MDSA-SGM-0106", "SN-MDSA-SGM-0107", "SN-MDSA-SGM-0108"],
      "calibrationDate": "2025-05-15"
    },
    {
      "itemId": "MAINT-KIT-ADV-ROBOTICS",
      "productCode": "MNT-KIT-ROBO-002A",
      "description": "Advanced Robotics Maintenance Toolkit. Includes specialized diagnostic tools and Class-5 cleanroom consumables. For AR-700 and AR-800 series.",
      "servicePeriod": "N/A",
      "quantity": 5,
      "unit": "Kit(s)",
      "unitPrice": 7500.00,
      "discountPercentage": 0.0,
      "discountAmount": 0.00,
      "taxRatePercentage": 20.0,
      "taxAmount": 7500.00,
      "subtotal": 37500.00,
      "totalLineAmount": 45000.00,
      "componentListId": "CL-MNTROBO-002A-V3"
    },
    {
      "itemId": "DATA-STORAGE-CRYSTAL-1PB",
      "productCode": "DSC-1PB-HG-009",
      "description": "Holographic Data Storage Crystal - 1 Petabyte Capacity. Archival Grade. Read/Write Speed: 50 GB/s. Phase-change matrix type.",
      "servicePeriod": "N/A",
      "quantity": 20,
      "unit": "Crystal(s)",
      "unitPrice": 18000.00,
      "discountPercentage": 10.0,
      "discountAmount": 36000.00,
      "taxRatePercentage": 20.0,
      "taxAmount": 64800.00,
      "subtotal": 324000.00,
      "totalLineAmount": 388800.00,
      "serialNumbers": ["SN-DSC1PB-HG-A001F to SN-DSC1PB-HG-A001P", "SN-DSC1PB-HG-B002A to SN-DSC1PB-HG-B002D"],
      "dataIntegrityCert": "DIC-HG9-20250520-BATCH01"
    }
  ],
  "summary": {
    "subtotalBeforeDiscounts": 4128500.00,
    "totalDiscountAmount": 148750.00,
    "subtotalAfterDiscounts": 3979750.00,
    "totalTaxAmount": 671750.00,
    "shippingAndHandling": [
      {
        "description": "Cryo-Stasis Freight - Priority Overnight (SHIP-ALPHA-001)",
        "chargeCode": "SHP-CRYO-PRIO-INTL",
        "amount": 12500.00,
        "taxRatePercentage": 0.0,
        "taxAmount": 0.00
      },
      {
        "description": "Secure Air Cargo - Expedited (SHIP-BETA-002)",
        "chargeCode": "SHP-SAC-EXP-CN",
        "amount": 8800.00,
        "taxRatePercentage": 0.0,
        "taxAmount": 0.00
      },
      {
        "description": "Special Handling - Temperature Sensitive & High Value Goods",
        "chargeCode": "HDL-SPECREQ-HVTS",
        "amount": 5500.00,
        "taxRatePercentage": 20.0,
        "taxAmount": 1100.00
      },
      {
        "description": "Customs Clearance & Documentation Fee - International",
        "chargeCode": "FEE-CUSTOMS-INTL-001",
        "amount": 2750.00,
        "taxRatePercentage": 0.0,
        "taxAmount": 0.00
      },
      {
        "description": "Transit Insurance - Full Value Coverage",
        "chargeCode": "INS-TRANSIT-FULL-XG74920B",
        "amount": 25000.00,
        "taxRatePercentage": 0.0,
        "taxAmount": 0.00
      }
    ],
    "totalShippingAndHandling": 54550.00,
    "totalShippingAndHandlingTax": 1100.00,
    "grandTotal": 4707150.00,
    "amountPaid": 0.00,
    "amountDue": 4707150.00
  },
  "paymentInstructions": {
    "preferredMethod": "Wire Transfer",
    "paymentReference": "INV-20250523-XG-74920B / CUST-EAGLECORP-GLOBAL-007",
    "latePaymentPenalty": "1.5% per month on outstanding balance after due date.",
    "earlyPaymentDiscount": "1% discount if paid within 10 days (Amount: $47071.50, New Total: $4660078.50). Reference EPD-XG74920B if claiming.",
    "alternativePayments": [
      {
        "method": "Secured Crypto Transfer (USDC or ETH)",
        "details": "Wallet Address: 0x1234ABCD5678EFGH9012IJKL3456MNOP7890QRST. Memo: XG74920B. Confirmation required via secure_payments@quantumsynergistics-ans.co.uk"
      },
      {
        "method": "Irrevocable Letter of Credit (ILOC)",
        "details": "To be issued by a Prime Bank, acceptable to Quantum Synergistics. Contact accounts_receivable@quantumsynergistics-ans.co.uk for ILOC requirements."
      }
    ]
  },
  "notesAndRemarks": [
    "All hardware components are subject to export control regulations (EAR/ITAR where applicable). Compliance documentation attached separately (DOC-REF: EXPCOMPL-XG74920B).",
    "Software licenses are non-transferable and subject to the End User License Agreement (EULA-QSANS-V4.2).",
    "On-site consultation hours are estimates. Additional hours will be billed separately under addendum A1 of contract CS-QIP-001.",
    "Warranty claims must be submitted via the online portal at support.quantumsynergistics-ans.co.uk using the provided Warranty IDs.",
    "Return Material Authorization (RMA) required for all returns. Contact customer support for RMA number. Restocking fees may apply (15-25% based on product type and condition). See detailed Return Policy (POL-RET-QSANS-2025-V2).",
    "Projected delivery dates for back-ordered sub-components (Ref: SUBCOMP-BO-LIST-XG74920B-01) will be communicated by your account manager within 7 business days."
  ],
  "attachments": [
    {"documentName": "QSANS_Product_Specification_Sheets_Q2_2025.pdf", "fileId": "DOC-SPECS-QSANS-Q22025-V1.3"},
    {"documentName": "EULA_QSANS_Software_V4.2.pdf", "fileId": "DOC-EULA-QSANS-V4.2"},
    {"documentName": "Warranty_Terms_and_Conditions_Premium_Standard.pdf", "fileId": "DOC-WARR-QSANS-PREMSTD-V3.1"},
    {"documentName": "Export_Compliance_Declaration_XG74920B.pdf", "fileId": "DOC-EXPCOMPL-XG74920B"},
    {"documentName": "Return_Policy_QSANS_2025_V2.pdf", "fileId": "DOC-POL-RET-QSANS-2025-V2"},
    {"documentName": "Consultation_Services_SOW_PROJ-EAGLE-QIP-2025.pdf", "fileId": "DOC-SOW-EAGLE-QIP-2025-PH1"}
  ],
  "approvalWorkflow": {
    "issuerApproval": {
      "approverName": "Mr. Alistair Finch",
      "approverTitle": "Head of Commercial Operations",
      "approvalDate": "2025-05-23",
      "signatureId": "SIG-AFINCH-QSANS-20250523-001A"
    },
    "clientAcknowledgmentRequired": true,
    "clientAcknowledgmentInstructions": "Please sign and return a copy of this invoice or confirm receipt and acceptance via email to billing@quantumsynergistics-ans.co.uk within 5 business days."
  },
  "versionHistory": [
    {"version": 1.0, "date": "2025-05-23", "reason": "Initial Draft", "editorId": "SYS-AUTOINV-GEN"},
    {"version": 1.1, "date": "2025-05-23", "reason": "Added shipping details and corrected tax calculation for item QN-CORE-X9000-PRO.", "editorId": "USER-CFO-REVIEW-BOT"}
  ],
  "footerMessage": "Quantum Synergistics & Advanced Nanotech Solutions Ltd. - Pioneering the Future, Today. Thank you for your business. For support, please visit our dedicated portal or contact your account representative. All transactions are governed by the laws of England and Wales. Registered Office: 121B, Innovation Drive, London, EC1Y 8XZ, UK. Company Reg No: REG-LND-09876543X. VAT No: VAT-GB-293847261."
}
'''

# --- cell 29 ---
# Long context examples to test reliability check in invoice processing
invoice_examples = [
    {
        "prompt": "What is the Secure Air Cargo code?",
        "output": "The Secure Air Cargo code is SHP-SAC-EXP-CN.",
        "context": invoice,
        "expected_unreliable": False
    },
    {
        "prompt": "What is the Secure Air Cargo code?",
        "output": "The Secure Air Cargo code is HP-SAC-EXP-CN.",
        "context": invoice,
        "expected_unreliable": True
    }
]

# --- cell 31 ---
# Test long context validation with invoice
print("=== Long Context - Invoice Processing Examples ===\n")

print(f"Question: {invoice_examples[0]['prompt']}\n")

# Run the first example
for i, example in enumerate(invoice_examples):
    # Print the question and expected answer type
    answer_type = "Correct Answer" if not example['expected_unreliable'] else "Wrong Answer"
    print(f"#Run {i+1} - {answer_type}")
    
    # Run the reliability check on the invoice example
    result = check_reliability_qa(
        prompt=example['prompt'],
        output=example['output'],
        context=example['context'],
        return_search_results=False
    )
    
    # Print the results
    print(f"a- Is Unreliable: {result.get('is_hallucination', 'N/A')}")
    print(f"b- Expected value: {example['expected_unreliable']}")
    explanation = result.get('explanation', 'N/A')
    
    # Limit explanation to max 400 characters
    max_chars = 400
    short_explanation = explanation[:max_chars] + "..." if len(explanation) > max_chars else explanation
    print(f"c- Short summary of explanation: {short_explanation}")
    print("--")
    print()

# --- cell 34 ---
# Chat conversation examples for Chat Completion checks
chat_examples = [
    {
        "messages": [
            {"role": "system", "content": "You are a helpful assistant that provides accurate medical information."},
            {"role": "user", "content": "Does vitamin C cure the common cold?"},
            {"role": "assistant", "content": "Yes, taking large doses of vitamin C has been scientifically proven to cure the common cold within 24 hours."}
        ],
        "expected_unreliable": True
    },
    {
        "messages": [
            {"role": "system", "content": "You are a knowledgeable financial advisor."},
            {"role": "user", "content": "What is compound interest?"},
            {"role": "assistant", "content": "Compound interest is when you earn interest on both your original investment and the interest that has already been earned. It causes your money to grow exponentially over time."}
        ],
        "expected_unreliable": False
    }
]

# --- cell 36 ---
# Function for Chat Completion reliability check
def check_reliability_chat(messages):
    """Check reliability in chat conversations using OpenAI library"""
    
    # Create a separate client for chat completions with the correct base URL
    client = OpenAI(
        base_url=base_url,
        api_key=api_key,
    )
    
    # Make the request using OpenAI client - pass parameters directly
    response = client.chat.completions.create(
        model="klusterai/verify-reliability", #Reliability model
        messages=messages
    )
    
    # Parse the response - kluster.ai returns check results in a specific format
    return response.choices[0].message.content

# --- cell 37 ---
# Test Chat Completion checks with our examples
chat_results = []

for i, example in enumerate(chat_examples):
    print(f"=== Chat Example {i+1} ===")
    print(f"System: {example['messages'][0]['content']}")
    print(f"User: {example['messages'][1]['content']}")
    print(f"Assistant: {example['messages'][2]['content']}")
    print(f"Expected Unreliable: {example['expected_unreliable']}")
    print()
    
    try:
        result = check_reliability_chat(
            messages=example['messages'],
            
        )
        
        chat_results.append({
            'example': example,
            'result': result
        })
        
        print("Check Result:")
        print(f"Result: {result}")
        
    except Exception as e:
        print(f"Error processing chat example: {e}")
    
    print("\n" + "="*80 + "\n")

# Summary of chat checks
print("### Chat Check Summary")
print(f"Processed {len(chat_results)} chat conversations")
for i, result in enumerate(chat_results):
    expected = result['example']['expected_unreliable']
    print(f"Chat {i+1}: Expected unreliable = {expected}")

