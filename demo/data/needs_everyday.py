"""Shopper needs at work, at the desk, in personal care and in what to wear (see `schema.need`)."""
from .schema import need

NEEDS = [
    need("video_calls", [
        "multi_intent: look and sound better on zoom calls from home",
        "knowledge: home office setup for video meetings",
    ], wants="webcam ring_light usb_headset laptop_stand monitor_light_bar:2"),
    need("cable_mess", [
        "knowledge: hide the mess of wires behind my desk",
        "qa: how to tidy cords under a standing workstation",
    ], wants="cable_clips cable_sleeve cable_tray power_strip:2"),
    need("eye_strain", [
        "knowledge: eyes hurt after staring at a computer all day",
        "qa: headaches from late nights on the laptop, what helps my eyes",
    ], wants="blue_light_glasses monitor_light_bar desk_lamp:2 monitor_riser:2"),
    need("power_outage", [
        "knowledge: prepare for a multi-day power outage",
        "qa: what should I have at home in case the electricity goes out",
    ], wants="power_bank lantern flashlight crank_radio headlamp:2"),
    need("travel_abroad_charging", [
        "knowledge: charging my phone and laptop on a trip to europe",
        "qa: what do I need to plug in my devices in london",
    ], wants="travel_adapter usb_c_charger power_bank:2 cable_organizer_case:2"),
    need("exam_focus", [
        "knowledge: stay focused while studying for exams",
        "multi_intent: quiet study corner with good light and a way to plan my week",
    ], wants="anc_headphones desk_lamp planner visual_timer highlighters:2"),
    need("desk_back_pain", [
        "knowledge: my lower back hurts from sitting at a desk all day",
        "qa: how to improve posture while working from home",
        "alternative: cheaper option than buying a whole new ergonomic office chair",
    ], wants="lumbar_cushion seat_cushion standing_desk_converter footrest monitor_riser:2"),
    need("online_shop_shipping", [
        "knowledge: start sending orders from my small online shop",
        "qa: what supplies does a new etsy seller need to mail packages",
    ], wants="poly_mailers thermal_label_printer postal_scale packing_tape bubble_wrap"),
    need("household_paperwork", [
        "knowledge: tame the pile of bills and letters at home",
        "qa: best way to organise tax documents and old statements",
    ], wants="file_box label_maker shredder desk_organizer:2"),
    need("cracked_hands", [
        "knowledge: hands crack and bleed in cold weather",
        "qa: what helps really dry skin in winter",
    ], wants="hand_cream moisturizing_gloves body_lotion:2 humidifier:2 lip_balm:2"),
    need("fragrance_free_moisturizer", [
        "negation: moisturizer without fragrance for sensitive skin",
        "negation: unscented lotion, no perfume at all",
    ], wants="body_lotion face_moisturizer hand_cream:2", only="scent=Fragrance-Free"),
    need("razor_bumps", [
        "knowledge: razor bumps on my neck after every shave",
        "qa: how to stop irritation from shaving",
    ], wants="safety_razor shave_balm"),
    need("carry_on_liquids", [
        "knowledge: carry on liquids rules for a flight",
        "qa: how do I pack shampoo for airport security",
    ], wants="travel_bottles clear_quart_bag toiletry_bag:2"),
    need("heatless_curls", [
        "negation: curl my hair overnight without heat",
        "alternative: gentler alternative to a hot iron for waves",
    ], wants="heatless_curler satin_pillowcase scrunchies:2", wrong="curling_iron"),
    need("winter_running_clothes", [
        "knowledge: what to wear running in freezing weather",
        "qa: dressing for a 5am jog in january",
    ], wants="base_layer touchscreen_gloves ear_warmer reflective_vest:2 running_socks:2"),
    need("job_interview_outfit", [
        "knowledge: what to wear to a first office job interview",
        "qa: smart outfit for a law firm interview",
    ], wants="dress_shirt blazer oxford_shoes necktie:2"),
    need("rainy_commute", [
        "knowledge: staying dry walking to work in the rain",
        "qa: how do I keep my feet and clothes dry on a wet commute",
    ], wants="rain_jacket compact_umbrella shoe_covers rain_boots"),
    need("sweater_not_wool", [
        "negation: warm sweater that isn't wool, I'm allergic",
        "negation: cozy knit top without any animal fibers",
    ], wants="sweater fleece_jacket", exclude="material=Merino Wool|Wool Blend|Cashmere Blend"),
    need("vegan_hiking_boots", [
        "negation: vegan hiking boots with no leather",
        "negation: trail shoes for muddy walks, no animal products",
    ], wants="hiking_boots rain_boots:2", exclude="material=Full Grain Leather|Suede and Mesh"),
]
